"""Where Reelbot keeps state in AWS: the clips bucket (and its access logs) and the job queue's Valkey."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

#: ElastiCache for Valkey: the BSD-licensed Redis successor that docker-compose.yml runs too.
CACHE_ENGINE = "valkey"
CACHE_ENGINE_VERSION = "8.0"
CACHE_PARAMETER_FAMILY = "valkey8"
CACHE_PORT = 6379


class ClipStorage(Construct):
    """The clips bucket: private, encrypted, TLS only, clips expire; access logged to a second bucket.

    Both buckets are kept when the stack is destroyed (``RemovalPolicy.RETAIN``).
    """

    def __init__(self, scope: Construct, id: str, *, clip_days: int, log_days: int) -> None:
        super().__init__(scope, id)
        # S3 server access logging delivers only to buckets with S3-managed keys (SSE-S3).
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(log_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.clips = s3.Bucket(
            self,
            "Clips",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="clips/",
            # The store never sets a lifetime per object: this rule is how clips (and the
            # input images members attach) go away.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-clips",
                    expiration=cdk.Duration.days(clip_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )


class JobQueueCache(Construct):
    """ElastiCache for Valkey with TLS, encryption at rest and an AUTH token, reachable from given groups.

    The AUTH token is generated into a Secrets Manager secret. A second secret,
    :attr:`redis_url`, holds the whole ``rediss://:TOKEN@HOST:6379/0`` URL, assembled by
    CloudFormation from a dynamic reference to the first: the apps read only ``REDIS_URL``, and
    the token never appears in the template, the task definitions or the logs.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        node_type: str,
        failover: bool,
        namespace: str,
    ) -> None:
        super().__init__(scope, id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Reelbot job queue (Valkey): 6379 from the bot and the workers only",
            allow_all_outbound=False,
        )
        # ElastiCache AUTH tokens: 16-128 printable characters without @, " or /. Letters and
        # digits only, so the token also sits in a URL without escaping.
        self.auth_token = secretsmanager.Secret(
            self,
            "AuthToken",
            description=f"Reelbot ({namespace}): the Valkey AUTH token",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Reelbot job queue: private subnets",
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
        )
        # The default parameter group evicts keys that have a TTL (volatile-lru) when memory is
        # full, and job records have TTLs: refuse writes instead (docs/REDIS.md).
        parameters = elasticache.CfnParameterGroup(
            self,
            "Parameters",
            cache_parameter_group_family=CACHE_PARAMETER_FAMILY,
            description="Reelbot job queue: never evict keys",
            properties={"maxmemory-policy": "noeviction"},
        )
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"Reelbot ({namespace}) job queue",
            engine=CACHE_ENGINE,
            engine_version=CACHE_ENGINE_VERSION,
            cache_node_type=node_type,
            cache_parameter_group_name=parameters.ref,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=CACHE_PORT,
            # A second node in another AZ takes over when the primary fails (ElastiCache has no
            # AOF: this, with the daily snapshot, is what keeps the queue through a node loss).
            num_cache_clusters=2 if failover else 1,
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=self.auth_token.secret_value.unsafe_unwrap(),  # a {{resolve:...}} reference
            snapshot_retention_limit=1,
            auto_minor_version_upgrade=True,
        )
        # AuthToken is a dynamic reference, which CloudFormation does not order by itself.
        self.replication_group.add_resource_dependency(subnets)
        self.replication_group.node.add_dependency(self.auth_token)
        host = self.replication_group.attr_primary_end_point_address
        self.redis_url = secretsmanager.Secret(
            self,
            "RedisUrl",
            description=f"Reelbot ({namespace}): REDIS_URL (rediss://, with the AUTH token)",
            secret_string_value=cdk.SecretValue.unsafe_plain_text(
                cdk.Fn.join(
                    "",
                    [
                        "rediss://:",
                        self.auth_token.secret_value.unsafe_unwrap(),
                        "@",
                        host,
                        f":{CACHE_PORT}/0",
                    ],
                )
            ),
        )

    def allow_from(self, group: ec2.ISecurityGroup, who: str) -> None:
        """Let ``group`` (``who``, for the rule's description) reach Valkey on 6379, and nothing else."""
        self.security_group.add_ingress_rule(group, ec2.Port.tcp(CACHE_PORT), f"Valkey from {who}")
