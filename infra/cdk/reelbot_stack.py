"""Reelbot on AWS: the network, the state (Valkey, S3, secrets), the bot on Fargate, GPU workers on EC2.

What each task receives (docs/AWS.md lists it for operators):

- both: ``REDIS_URL`` (a secret: ``rediss://:TOKEN@HOST:6379/0``), ``REELBOT_NAMESPACE``,
  ``REELBOT_STORAGE=s3``, ``REELBOT_S3_BUCKET``, ``REELBOT_S3_PREFIX``, ``REELBOT_S3_REGION``,
  ``AWS_REGION`` and ``AWS_DEFAULT_REGION``;
- the bot: ``DISCORD_TOKEN`` (a secret), ``REELBOT_CLOUDWATCH_NAMESPACE``,
  ``REELBOT_ENHANCE_MODEL``; ``REELBOT_GUARDRAIL_ID``/``_VERSION`` with a guardrail, and
  ``REELBOT_OPERATOR_IDS`` with operators;
- the workers: ``REELBOT_MODELS``, ``REELBOT_OFFLOAD`` and ``HF_HOME`` (the instance's cache).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from infra.cdk.bot_service import BotService
from infra.cdk.config import StackConfig
from infra.cdk.data import ClipStorage, JobQueueCache
from infra.cdk.policies import CLIP_PREFIX
from infra.cdk.worker_fleet import WorkerFleet


class ReelbotStack(cdk.Stack):
    """One Reelbot deployment."""

    def __init__(self, scope: Construct, id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description="Reelbot: Discord bot and GPU video workers", **kwargs)
        self.config = config

        # 1. Network: public subnets hold the NAT gateways; everything else is private.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
        )
        # Free, and keeps clip and image-layer traffic to S3 off the NAT gateway's meter.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

        # 2. State: clips in S3, the job queue in Valkey.
        self.storage = ClipStorage(self, "Storage", clip_days=config.clip_days, log_days=config.log_days)
        self.cache = JobQueueCache(
            self,
            "JobQueue",
            vpc=self.vpc,
            node_type=config.cache_node_type,
            failover=config.cache_failover,
            namespace=config.namespace,
        )

        # 3. What both sides share.
        region = cdk.Stack.of(self).region
        environment = {
            "REELBOT_NAMESPACE": config.namespace,
            "REELBOT_STORAGE": "s3",
            "REELBOT_S3_BUCKET": self.storage.clips.bucket_name,
            "REELBOT_S3_PREFIX": CLIP_PREFIX,
            "REELBOT_S3_REGION": region,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        secrets = {"REDIS_URL": ecs.Secret.from_secrets_manager(self.cache.redis_url)}
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc)

        # 4. The bot on Fargate, the workers on GPU instances.
        self.bot = BotService(
            self,
            "Bot",
            config=config,
            cluster=self.cluster,
            vpc=self.vpc,
            clips=self.storage.clips,
            environment=environment,
            secrets=secrets,
        )
        self.workers = WorkerFleet(
            self,
            "Workers",
            config=config,
            cluster=self.cluster,
            vpc=self.vpc,
            clips=self.storage.clips,
            environment=environment,
            secrets=secrets,
        )
        self.cache.allow_from(self.bot.security_group, "the bot")
        self.cache.allow_from(self.workers.security_group, "the GPU workers")

        # 5. What the operator needs next (docs/AWS.md).
        outputs = {
            "DiscordTokenSecretArn": self.bot.discord_token.secret_arn,
            "ClipsBucketName": self.storage.clips.bucket_name,
            "AccessLogsBucketName": self.storage.access_logs.bucket_name,
            "ClusterName": self.cluster.cluster_name,
            "BotServiceName": self.bot.service.service_name,
            "WorkerServiceName": self.workers.service.service_name,
            "BotLogGroup": self.bot.log_group.log_group_name,
            "WorkerLogGroup": self.workers.log_group.log_group_name,
            "RedisEndpoint": self.cache.replication_group.attr_primary_end_point_address,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
