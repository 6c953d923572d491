"""The AWS CDK app (infra/cdk), synthesised offline and checked resource by resource.

No AWS account is involved: the stack is environment-agnostic here, and jsii runs aws-cdk-lib
on the local Node.js. The default deployment is synthesised the way ``npx aws-cdk deploy``
does it (``app.py`` as a script, with ``cdk.json``'s context); a second, customised one
in-process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from inference.jobqueue.settings import QueueSettings
from inference.settings import WorkerSettings
from infra.cdk.config import ConfigError, StackConfig
from infra.cdk.reelbot_stack import ReelbotStack

ROOT = Path(__file__).parents[1]
CDK_DIR = ROOT / "infra" / "cdk"
CDK_JSON: dict[str, Any] = json.loads((CDK_DIR / "cdk.json").read_text())

CUSTOM = {
    "namespace": "community",
    "workerInstanceType": "g6.xlarge",
    "workerAmi": "al2",
    "maxWorkers": "2",  # as `-c maxWorkers=2` passes it: a string
    "enhanceModel": "us.amazon.nova-lite-v1:0",
    "guardrailId": "gr1234abcd",
    "guardrailVersion": "3",
    "clipDays": 3,
    "natGateways": 2,
    "cacheFailover": "false",
    "botImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/reelbot/bot:v1",
    "operatorIds": "123456789012345678",
}


@pytest.fixture(scope="module")
def default() -> Iterator[Template]:
    """The stack as the CDK CLI synthesises it: cdk.json's app command and context."""
    assert CDK_JSON["app"] == "python3 app.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    with tempfile.TemporaryDirectory() as outdir:
        env.update(CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=json.dumps(CDK_JSON["context"]))
        run = subprocess.run(
            [sys.executable, "app.py"], cwd=CDK_DIR, env=env, timeout=240, capture_output=True, text=True
        )
        assert run.returncode == 0, f"app.py failed:\n{run.stderr}"
        yield Template.from_json(json.loads((Path(outdir) / "Reelbot.template.json").read_text()))


@pytest.fixture(scope="module")
def custom() -> Iterator[Template]:
    """A deployment with a guardrail, an inference profile, an ECR image and other non-defaults."""
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(context={**CDK_JSON["context"], **CUSTOM}, outdir=outdir)
        config = StackConfig.from_context(app.node.try_get_context)
        yield Template.from_stack(ReelbotStack(app, "Custom", config=config))


# --- helpers -------------------------------------------------------------------------------


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(kind)
    return found


def only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def logical_id(template: Template, kind: str, path_part: str) -> str:
    """The logical id of the one ``kind`` resource whose id contains ``path_part``."""
    ids = [i for i in resources(template, kind) if path_part in i]
    assert len(ids) == 1, f"expected one {kind} named like {path_part}, found {ids}"
    return ids[0]


def container(template: Template, name: str) -> dict[str, Any]:
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for definition in task["Properties"]["ContainerDefinitions"]:
            if definition["Name"] == name:
                return dict(definition)
    raise AssertionError(f"no container {name!r}")


def env_of(definition: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in definition.get("Environment", [])}


def secrets_of(definition: dict[str, Any]) -> dict[str, Any]:
    return {s["Name"]: s["ValueFrom"] for s in definition.get("Secrets", [])}


def statements(template: Template, role_part: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the one role whose logical id contains ``role_part``."""
    role = logical_id(template, "AWS::IAM::Role", role_part)
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert not resources(template, "AWS::IAM::Role")[role]["Properties"].get("ManagedPolicyArns")
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def all_actions(template: Template, role_part: str) -> set[str]:
    return set().union(*(actions(s) for s in statements(template, role_part)))


def text(value: Any) -> str:
    """A CloudFormation value flattened to one string, to look for literal parts in a Join."""
    return json.dumps(value)


# --- network and state ---------------------------------------------------------------------


def test_the_vpc_has_two_azs_of_public_and_private_subnets_and_one_nat(default: Template) -> None:
    template = default
    template.resource_count_is("AWS::EC2::VPC", 1)
    subnets = resources(template, "AWS::EC2::Subnet").values()
    public = [s for s in subnets if s["Properties"].get("MapPublicIpOnLaunch")]
    assert len(subnets) == 4 and len(public) == 2
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    # the free S3 gateway endpoint keeps clip traffic off the NAT gateway
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway", "ServiceName": Match.any_value()}
    )


def test_nat_gateways_follow_context(custom: Template) -> None:
    custom.resource_count_is("AWS::EC2::NatGateway", 2)


def test_valkey_has_tls_encryption_at_rest_an_auth_token_and_failover(default: Template) -> None:
    template = default
    _, group = only(template, "AWS::ElastiCache::ReplicationGroup")
    props = group["Properties"]
    token = logical_id(template, "AWS::SecretsManager::Secret", "AuthToken")
    assert props["Engine"] == "valkey"
    assert props["TransitEncryptionEnabled"] is True and props["TransitEncryptionMode"] == "required"
    assert props["AtRestEncryptionEnabled"] is True
    assert props["AuthToken"] == {
        "Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": token}, ":SecretString:::}}"]]
    }
    assert props["AutomaticFailoverEnabled"] is True and props["MultiAZEnabled"] is True
    assert props["NumCacheClusters"] == 2
    # the token is generated, never written in the template
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": Match.object_like({"ExcludePunctuation": True, "PasswordLength": 64})},
    )
    # job records have TTLs: the parameter group must not evict them
    _, parameters = only(template, "AWS::ElastiCache::ParameterGroup")
    assert parameters["Properties"]["Properties"] == {"maxmemory-policy": "noeviction"}
    assert props["CacheParameterGroupName"] == {"Ref": only(template, "AWS::ElastiCache::ParameterGroup")[0]}
    # in the private subnets
    _, subnet_group = only(template, "AWS::ElastiCache::SubnetGroup")
    assert all("private" in ref["Ref"] for ref in subnet_group["Properties"]["SubnetIds"])


def test_failover_is_optional(custom: Template) -> None:
    _, group = only(custom, "AWS::ElastiCache::ReplicationGroup")
    assert group["Properties"]["NumCacheClusters"] == 1
    assert group["Properties"]["AutomaticFailoverEnabled"] is False


def test_valkey_admits_6379_from_the_bot_and_the_workers_only(default: Template) -> None:
    template = default
    cache_sg = logical_id(template, "AWS::EC2::SecurityGroup", "JobQueueSecurityGroup")
    bot_sg = logical_id(template, "AWS::EC2::SecurityGroup", "BotSecurityGroup")
    worker_sg = logical_id(template, "AWS::EC2::SecurityGroup", "WorkersTaskSecurityGroup")
    assert (
        "SecurityGroupIngress" not in resources(template, "AWS::EC2::SecurityGroup")[cache_sg]["Properties"]
    )
    rules = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [cache_sg, "GroupId"]}
    ]
    assert {(r["FromPort"], r["ToPort"], r["IpProtocol"]) for r in rules} == {(6379, 6379, "tcp")}
    assert sorted(r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in rules) == sorted([bot_sg, worker_sg])


def test_redis_url_is_a_tls_url_with_the_token_assembled_by_cloudformation(default: Template) -> None:
    template = default
    url = resources(template, "AWS::SecretsManager::Secret")[
        logical_id(template, "AWS::SecretsManager::Secret", "RedisUrl")
    ]
    parts = url["Properties"]["SecretString"]["Fn::Join"][1]
    assert parts[0].startswith("rediss://:{{resolve:secretsmanager:")
    assert parts[-1] == ":6379/0"
    assert {
        "Fn::GetAtt": [only(template, "AWS::ElastiCache::ReplicationGroup")[0], "PrimaryEndPoint.Address"]
    } in parts


def test_buckets_are_private_encrypted_tls_only_expiring_logged_and_retained(default: Template) -> None:
    template = default
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 2
    clips_id = logical_id(template, "AWS::S3::Bucket", "Clips")
    logs_id = logical_id(template, "AWS::S3::Bucket", "AccessLogs")
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    clips = buckets[clips_id]["Properties"]
    assert [r["ExpirationInDays"] for r in clips["LifecycleConfiguration"]["Rules"]] == [7]
    assert clips["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": "clips/",
    }
    assert [
        r["ExpirationInDays"] for r in buckets[logs_id]["Properties"]["LifecycleConfiguration"]["Rules"]
    ] == [30]
    # enforce_ssl: each bucket policy denies requests without TLS
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        denials = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denials)
    template.resource_count_is("AWS::S3::BucketPolicy", 2)


def test_clip_lifetime_follows_context(custom: Template) -> None:
    clips = resources(custom, "AWS::S3::Bucket")[logical_id(custom, "AWS::S3::Bucket", "Clips")]
    assert [r["ExpirationInDays"] for r in clips["Properties"]["LifecycleConfiguration"]["Rules"]] == [3]


# --- the bot ---------------------------------------------------------------------------------


def test_the_discord_token_is_a_secret_given_to_the_bot_only_as_a_secret(default: Template) -> None:
    template = default
    token = logical_id(template, "AWS::SecretsManager::Secret", "DiscordToken")
    secret = resources(template, "AWS::SecretsManager::Secret")[token]["Properties"]
    assert "put-secret-value" in secret["SecretString"]  # a placeholder for the operator to replace
    bot = container(template, "bot")
    assert secrets_of(bot)["DISCORD_TOKEN"] == {"Ref": token}
    assert "DISCORD_TOKEN" not in env_of(bot)
    # the token's secret appears in no container's environment, and not in the worker at all
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for definition in task["Properties"]["ContainerDefinitions"]:
            assert token not in text(definition.get("Environment", []))
    assert token not in text(container(template, "worker"))


def test_the_bot_runs_one_fargate_task_never_two(default: Template) -> None:
    template = default
    template.resource_count_is("AWS::ECS::Cluster", 1)
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": 1,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 0,
                "MaximumPercent": 100,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})
            },
        },
    )
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RequiresCompatibilities": ["FARGATE"], "Cpu": "1024", "Memory": "2048"}
    )


def test_task_environments_and_secrets(default: Template) -> None:
    template = default
    bucket = {"Ref": logical_id(template, "AWS::S3::Bucket", "Clips")}
    redis_url = {"Ref": logical_id(template, "AWS::SecretsManager::Secret", "RedisUrl")}
    shared = {
        "REELBOT_NAMESPACE": "reelbot",
        "REELBOT_STORAGE": "s3",
        "REELBOT_S3_BUCKET": bucket,
        "REELBOT_S3_PREFIX": "reelbot/",
        "REELBOT_S3_REGION": {"Ref": "AWS::Region"},
        "AWS_REGION": {"Ref": "AWS::Region"},
        "AWS_DEFAULT_REGION": {"Ref": "AWS::Region"},
    }
    bot, worker = container(template, "bot"), container(template, "worker")
    assert env_of(bot) == {
        **shared,
        "REELBOT_CLOUDWATCH_NAMESPACE": "Reelbot",
        "REELBOT_ENHANCE_MODEL": "amazon.nova-lite-v1:0",
    }
    assert env_of(worker) == {
        **shared,
        "REELBOT_MODELS": "cogvideox-5b,cogvideox-5b-i2v",
        "REELBOT_OFFLOAD": "none",
        "HF_HOME": "/cache/huggingface",
    }
    assert set(secrets_of(bot)) == {"REDIS_URL", "DISCORD_TOKEN"}
    assert secrets_of(worker) == {"REDIS_URL": redis_url} and secrets_of(bot)["REDIS_URL"] == redis_url
    assert bot["Image"] == "ghcr.io/reelbot/bot:latest" and worker["Image"] == "ghcr.io/reelbot/worker:latest"


def test_every_variable_the_tasks_get_is_one_the_code_reads(default: Template, custom: Template) -> None:
    spelled = re.compile(r"\b(?:REELBOT|DISCORD)_[A-Z0-9_]*[A-Z0-9]\b|\bREDIS_URL\b")
    read = {
        name
        for package in ("bot", "inference")
        for path in (ROOT / package).rglob("*.py")
        for name in spelled.findall(path.read_text())
    }
    read |= {f"REELBOT_{name.upper()}" for name in WorkerSettings.__dataclass_fields__}
    read |= {f"REELBOT_{name.upper()}" for name in QueueSettings.__dataclass_fields__}
    read |= {"AWS_REGION", "AWS_DEFAULT_REGION", "HF_HOME"}  # botocore, huggingface_hub
    for template in (default, custom):
        for name in ("bot", "worker"):
            given = {*env_of(container(template, name)), *secrets_of(container(template, name))}
            assert given <= read, f"{name} gets variables no code reads: {sorted(given - read)}"


def test_a_guardrail_reaches_the_bot_with_its_version(custom: Template) -> None:
    bot = env_of(container(custom, "bot"))
    assert bot["REELBOT_GUARDRAIL_ID"] == "gr1234abcd" and bot["REELBOT_GUARDRAIL_VERSION"] == "3"
    assert bot["REELBOT_ENHANCE_MODEL"] == "us.amazon.nova-lite-v1:0"
    assert bot["REELBOT_OPERATOR_IDS"] == "123456789012345678"
    assert env_of(container(custom, "worker"))["REELBOT_NAMESPACE"] == "community"


# --- the GPU workers -------------------------------------------------------------------------


def test_gpu_hosts_use_a_launch_template_with_the_ecs_gpu_ami(default: Template) -> None:
    template = default
    template.resource_count_is("AWS::AutoScaling::LaunchConfiguration", 0)
    _, launch = only(template, "AWS::EC2::LaunchTemplate")
    data = launch["Properties"]["LaunchTemplateData"]
    assert data["InstanceType"] == "g6e.xlarge"  # 48 GB: the default pair of 5b models fits
    assert data["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    assert data["BlockDeviceMappings"][0]["Ebs"] == {
        "DeleteOnTermination": True,
        "Encrypted": True,
        "VolumeSize": 200,
        "VolumeType": "gp3",
    }
    ami = data["ImageId"]["Ref"]
    assert template.to_json()["Parameters"][ami]["Default"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    )
    user_data = text(data["UserData"])
    for line in ("ECS_CLUSTER=", "ECS_ENABLE_GPU_SUPPORT=true", "ECS_AWSVPC_BLOCK_IMDS=true"):
        assert line in user_data
    _, group = only(template, "AWS::AutoScaling::AutoScalingGroup")
    props = group["Properties"]
    assert props["MinSize"] == "0" and props["MaxSize"] == "4"
    assert props["LaunchTemplate"]["LaunchTemplateId"] == {
        "Ref": only(template, "AWS::EC2::LaunchTemplate")[0]
    }
    assert all("private" in ref["Ref"] for ref in props["VPCZoneIdentifier"])
    assert "DesiredCapacity" not in props  # managed scaling owns it


def test_instance_type_ami_and_size_follow_context(custom: Template) -> None:
    _, launch = only(custom, "AWS::EC2::LaunchTemplate")
    data = launch["Properties"]["LaunchTemplateData"]
    assert data["InstanceType"] == "g6.xlarge"
    assert custom.to_json()["Parameters"][data["ImageId"]["Ref"]]["Default"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
    )
    _, group = only(custom, "AWS::AutoScaling::AutoScalingGroup")
    assert group["Properties"]["MaxSize"] == "2"
    custom.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MaxCapacity": 2})


def test_the_capacity_provider_scales_instances_for_the_worker_service(default: Template) -> None:
    template = default
    provider_id, provider = only(template, "AWS::ECS::CapacityProvider")
    assert provider["Properties"]["AutoScalingGroupProvider"] == {
        "AutoScalingGroupArn": {"Ref": only(template, "AWS::AutoScaling::AutoScalingGroup")[0]},
        "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100},
        "ManagedTerminationProtection": "DISABLED",
        "ManagedDraining": "ENABLED",
    }
    association, _ = only(template, "AWS::ECS::ClusterCapacityProviderAssociations")
    template.has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations", {"CapacityProviders": [{"Ref": provider_id}]}
    )
    # ECS refuses a service whose capacity provider the cluster is not associated with yet
    workers = resources(template, "AWS::ECS::Service")[logical_id(template, "AWS::ECS::Service", "Workers")]
    assert association in workers["DependsOn"]
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "CapacityProviderStrategy": [{"CapacityProvider": {"Ref": provider_id}, "Weight": 1}],
            "DesiredCount": 0,
            "DeploymentConfiguration": Match.object_like({"MinimumHealthyPercent": 0, "MaximumPercent": 100}),
        },
    )


def test_a_worker_task_takes_one_gpu_and_keeps_the_weights_on_the_host(default: Template) -> None:
    template = default
    worker = container(template, "worker")
    assert worker["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]
    assert worker["MemoryReservation"] == 12288 and "Memory" not in worker
    assert worker["StopTimeout"] == 120  # past the worker's 60 s grace, so a job is handed back
    assert worker["MountPoints"] == [
        {"ContainerPath": "/cache/huggingface", "ReadOnly": False, "SourceVolume": "hf-cache"}
    ]
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "RequiresCompatibilities": ["EC2"],
            "NetworkMode": "awsvpc",
            "Volumes": [{"Name": "hf-cache", "Host": {"SourcePath": "/var/lib/reelbot/huggingface"}}],
        },
    )


def test_workers_scale_out_on_queue_depth_and_to_zero_when_idle(default: Template) -> None:
    template = default
    target_id, target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["Properties"]["MinCapacity"] == 0 and target["Properties"]["MaxCapacity"] == 4
    assert "WorkersService" in text(target["Properties"]["ResourceId"])
    policies = resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    by_policy = {alarm["Properties"]["AlarmActions"][0]["Ref"]: alarm["Properties"] for alarm in alarms}
    assert set(by_policy) == set(policies)
    dimension = [{"Name": "Deployment", "Value": "reelbot"}]

    out_id = logical_id(template, "AWS::ApplicationAutoScaling::ScalingPolicy", "ScaleOut")
    out = policies[out_id]["Properties"]
    assert out["ScalingTargetId"] == {"Ref": target_id}
    assert out["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    assert out["StepScalingPolicyConfiguration"]["StepAdjustments"][0] == {
        "MetricIntervalLowerBound": 0,
        "MetricIntervalUpperBound": 4,
        "ScalingAdjustment": 1,
    }
    waiting = by_policy[out_id]
    assert (waiting["Namespace"], waiting["MetricName"], waiting["Dimensions"]) == (
        "Reelbot",
        "QueueDepth",
        dimension,
    )
    assert (waiting["ComparisonOperator"], waiting["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)

    in_id = logical_id(template, "AWS::ApplicationAutoScaling::ScalingPolicy", "ScaleToZero")
    scale_in = policies[in_id]["Properties"]["StepScalingPolicyConfiguration"]
    assert scale_in["AdjustmentType"] == "ExactCapacity"
    assert scale_in["StepAdjustments"] == [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0}]
    idle = by_policy[in_id]
    assert (idle["ComparisonOperator"], idle["Threshold"]) == ("LessThanOrEqualToThreshold", 0)
    assert idle["EvaluationPeriods"] == 15 and idle["DatapointsToAlarm"] == 15
    assert idle["TreatMissingData"] == "notBreaching"  # no data never stops a render
    metrics = {m["Id"]: m for m in idle["Metrics"]}
    assert metrics["expr_1"]["Expression"] == "queued + running"
    for name, metric_id in (("QueueDepth", "queued"), ("RunningJobs", "running")):
        assert metrics[metric_id]["MetricStat"]["Metric"] == {
            "Namespace": "Reelbot",
            "MetricName": name,
            "Dimensions": dimension,
        }


def test_the_scaling_dimension_is_the_namespace(custom: Template) -> None:
    custom.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "QueueDepth", "Dimensions": [{"Name": "Deployment", "Value": "community"}]},
    )


def test_both_services_log_to_groups_with_retention(default: Template) -> None:
    template = default
    groups = resources(template, "AWS::Logs::LogGroup")
    assert len(groups) == 2
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
    for name in ("bot", "worker"):
        logging = container(template, name)["LogConfiguration"]
        assert logging["LogDriver"] == "awslogs"
        assert logging["Options"]["awslogs-group"]["Ref"] in groups


# --- IAM -------------------------------------------------------------------------------------


def test_no_policy_grants_a_wildcard_action(default: Template, custom: Template) -> None:
    for template in (default, custom):
        documents = [
            p["Properties"]["PolicyDocument"] for p in resources(template, "AWS::IAM::Policy").values()
        ]
        for role in resources(template, "AWS::IAM::Role").values():
            documents += [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        granted = {a for d in documents for s in d["Statement"] if s["Effect"] == "Allow" for a in actions(s)}
        assert granted and not [a for a in granted if "*" in a]


def test_the_bot_task_role_is_least_privilege(default: Template) -> None:
    template = default
    by_sid = {s.get("Sid"): s for s in statements(template, "BotTaskTaskRole")}
    assert set(by_sid) == {"EnhancePrompts", "PublishQueueMetrics", "ClipObjects", "ListClipPrefix"}
    assert actions(by_sid["EnhancePrompts"]) == {"bedrock:InvokeModel"}
    assert "foundation-model/amazon.nova-lite-v1:0" in text(by_sid["EnhancePrompts"]["Resource"])
    assert "*" not in text(by_sid["EnhancePrompts"]["Resource"])
    metrics = by_sid["PublishQueueMetrics"]
    assert actions(metrics) == {"cloudwatch:PutMetricData"}
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Reelbot"}}
    assert actions(by_sid["ClipObjects"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert text(by_sid["ClipObjects"]["Resource"]).endswith('"/reelbot/*"]]}')
    assert actions(by_sid["ListClipPrefix"]) == {"s3:ListBucket"}
    assert by_sid["ListClipPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["reelbot/*"]}}
    assert "bedrock:ApplyGuardrail" not in all_actions(template, "BotTaskTaskRole")


def test_a_guardrail_and_an_inference_profile_widen_the_bot_role_just_enough(custom: Template) -> None:
    by_sid = {s.get("Sid"): s for s in statements(custom, "BotTaskTaskRole")}
    assert actions(by_sid["ScreenPrompts"]) == {"bedrock:ApplyGuardrail"}
    assert text(by_sid["ScreenPrompts"]["Resource"]).endswith(':guardrail/gr1234abcd"]]}')
    model = text(by_sid["EnhancePrompts"]["Resource"])
    assert ":inference-profile/us.amazon.nova-lite-v1:0" in model
    assert ":bedrock:*::foundation-model/amazon.nova-lite-v1:0" in model


def test_the_worker_task_role_reads_and_writes_clips_only(default: Template) -> None:
    template = default
    assert all_actions(template, "WorkersTaskTaskRole") == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    for statement in statements(template, "WorkersTaskTaskRole"):
        assert "reelbot/*" in text(statement.get("Resource")) + text(statement.get("Condition"))


def test_execution_roles_pull_log_and_read_their_secrets_only(default: Template, custom: Template) -> None:
    template = default
    secret = {
        name: {"Ref": logical_id(template, "AWS::SecretsManager::Secret", name)}
        for name in ("DiscordToken", "RedisUrl")
    }
    log_actions = {"logs:CreateLogStream", "logs:PutLogEvents"}
    read_secret = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    for role, readable in (
        ("BotTaskExecutionRole", [secret["DiscordToken"], secret["RedisUrl"]]),
        ("WorkersTaskExecutionRole", [secret["RedisUrl"]]),
    ):
        found = statements(template, role)
        assert set().union(*(actions(s) for s in found)) == log_actions | read_secret
        secret_statement = next(s for s in found if actions(s) == read_secret)
        resources_ = secret_statement["Resource"]
        assert (resources_ if isinstance(resources_, list) else [resources_]) == readable
    # an ECR image: pull rights on that repository alone
    pulls = {a: s for s in statements(custom, "BotTaskExecutionRole") for a in actions(s)}
    assert "repository/reelbot/bot" in text(pulls["ecr:BatchGetImage"]["Resource"])
    assert container(custom, "bot")["Image"] == {
        "Fn::Join": ["", ["123456789012.dkr.ecr.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/reelbot/bot:v1"]]
    }


def test_gpu_hosts_get_the_ecs_agent_permissions_spelled_out(default: Template) -> None:
    template = default
    assert all_actions(template, "WorkersInstanceRole") == {
        "ecs:DeregisterContainerInstance",
        "ecs:RegisterContainerInstance",
        "ecs:SubmitAttachmentStateChanges",
        "ecs:SubmitContainerStateChange",
        "ecs:SubmitTaskStateChange",
        "ecs:Poll",
        "ecs:StartTelemetrySession",
        "ecs:DiscoverPollEndpoint",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    _, profile = only(template, "AWS::IAM::InstanceProfile")
    assert profile["Properties"]["Roles"] == [
        {"Ref": logical_id(template, "AWS::IAM::Role", "WorkersInstanceRole")}
    ]


def test_outputs_name_what_the_operator_needs(default: Template) -> None:
    outputs = default.to_json()["Outputs"]
    for name in (
        "DiscordTokenSecretArn",
        "ClipsBucketName",
        "ClusterName",
        "BotServiceName",
        "WorkerServiceName",
    ):
        assert name in outputs


# --- context -------------------------------------------------------------------------------


def test_cdk_json_holds_every_default() -> None:
    defaults = StackConfig().as_context()
    assert {k: v for k, v in CDK_JSON["context"].items() if k in defaults} == defaults
    assert not [k for k in CDK_JSON["context"] if not k.startswith("@") and k not in defaults]


def test_context_strings_parse_like_cdk_json_values() -> None:
    given = {"maxWorkers": "3", "cacheFailover": "no", "clipDays": " 2 "}
    config = StackConfig.from_context(given.get)
    assert (config.max_workers, config.cache_failover, config.clip_days) == (3, False, 2)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("workerInstanceType", "m5.large", "NVIDIA GPU"),
        ("workerInstanceType", "g5g.xlarge", "x86_64"),
        ("maxWorkers", "lots", "whole number"),
        ("maxWorkers", 0, "1 to 100"),
        ("logDays", 8, "one of"),
        ("natGateways", 0, "egress"),
        ("cacheFailover", "maybe", "true or false"),
        ("guardrailId", "not a guardrail!", "guardrail"),
        ("namespace", "Reel Bot", "lowercase"),
        ("operatorIds", "@someone", "user ids"),
    ],
)
def test_bad_context_names_the_key_and_the_fix(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        StackConfig.from_context({key: value}.get)
    assert words in str(caught.value)


def test_the_app_refuses_bad_context_with_a_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env["CDK_CONTEXT_JSON"] = json.dumps({**CDK_JSON["context"], "maxWorkers": "many"})
    with tempfile.TemporaryDirectory() as outdir:
        env["CDK_OUTDIR"] = outdir
        run = subprocess.run(
            [sys.executable, "app.py"], cwd=CDK_DIR, env=env, capture_output=True, text=True, timeout=240
        )
    assert run.returncode == 1
    assert "maxWorkers='many' is not a whole number" in run.stderr
