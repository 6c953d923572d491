"""The IAM statements of the task roles and the GPU hosts: named actions only, on named resources.

``*`` appears only as a resource where the service has no resource-level permissions
(``cloudwatch:PutMetricData``, ``ecs:DiscoverPollEndpoint``, ``ecr:GetAuthorizationToken``), and
each such statement is narrowed by a condition where the service offers one.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.cdk.config import StackConfig

#: The namespace the bot publishes QueueDepth and RunningJobs under (REELBOT_CLOUDWATCH_NAMESPACE).
METRICS_NAMESPACE = "Reelbot"
#: Every clip and input image lives under this prefix (REELBOT_S3_PREFIX).
CLIP_PREFIX = "reelbot/"


def bedrock_statements(stack: Stack, config: StackConfig) -> list[iam.PolicyStatement]:
    """``bedrock:InvokeModel`` on the enhancement model (Converse is authorised as InvokeModel),
    and ``bedrock:ApplyGuardrail`` on the guardrail when one is configured."""
    partition, region, account = stack.partition, stack.region, stack.account
    model = config.enhance_model
    if config.enhance_model_is_profile:
        # A cross-region profile routes to the foundation model in any of its regions.
        resources = [
            f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model}",
            f"arn:{partition}:bedrock:*::foundation-model/{config.enhance_foundation_model}",
        ]
    else:
        resources = [f"arn:{partition}:bedrock:{region}::foundation-model/{model}"]
    statements = [
        iam.PolicyStatement(sid="EnhancePrompts", actions=["bedrock:InvokeModel"], resources=resources)
    ]
    if config.guardrail_id:
        guardrail = config.guardrail_id
        if not guardrail.startswith("arn:"):
            guardrail = f"arn:{partition}:bedrock:{region}:{account}:guardrail/{guardrail}"
        statements.append(
            iam.PolicyStatement(
                sid="ScreenPrompts", actions=["bedrock:ApplyGuardrail"], resources=[guardrail]
            )
        )
    return statements


def put_metrics_statement() -> iam.PolicyStatement:
    """``cloudwatch:PutMetricData``, only into the Reelbot namespace."""
    return iam.PolicyStatement(
        sid="PublishQueueMetrics",
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],  # PutMetricData has no resource-level permissions; the condition narrows it
        conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


def clip_statements(bucket: s3.IBucket, actions: list[str]) -> list[iam.PolicyStatement]:
    """``actions`` on objects under the clip prefix, and listing that prefix.

    Listing lets a missing object read as 404 (``NoSuchKey``, which the store reports as "the
    clip expired") rather than a 403 that looks like a permissions fault.
    """
    return [
        iam.PolicyStatement(
            sid="ClipObjects", actions=actions, resources=[bucket.arn_for_objects(f"{CLIP_PREFIX}*")]
        ),
        iam.PolicyStatement(
            sid="ListClipPrefix",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{CLIP_PREFIX}*"]}},
        ),
    ]


def gpu_host_statements(cluster_arn: str, log_group_arn: str) -> list[iam.PolicyStatement]:
    """What the ECS agent on a GPU host needs: CDK's set, with ``ecs:Submit*`` spelled out."""
    return [
        iam.PolicyStatement(
            sid="EcsAgentCluster",
            actions=[
                "ecs:DeregisterContainerInstance",
                "ecs:RegisterContainerInstance",
                "ecs:SubmitAttachmentStateChanges",
                "ecs:SubmitContainerStateChange",
                "ecs:SubmitTaskStateChange",
            ],
            resources=[cluster_arn],
        ),
        iam.PolicyStatement(
            sid="EcsAgentPoll",
            actions=["ecs:Poll", "ecs:StartTelemetrySession"],
            resources=["*"],
            conditions={"ArnEquals": {"ecs:cluster": cluster_arn}},
        ),
        iam.PolicyStatement(
            sid="EcsAgentDiscover",
            actions=["ecs:DiscoverPollEndpoint", "ecr:GetAuthorizationToken"],
            resources=["*"],  # neither action has resource-level permissions
        ),
        iam.PolicyStatement(
            sid="WorkerLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group_arn],  # a log group's ARN ends in ":*", which covers its streams
        ),
    ]
