"""The Discord bot: one Fargate task, never two (two gateway sessions would answer every command twice)."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.cdk.config import StackConfig
from infra.cdk.images import container_image
from infra.cdk.log_groups import log_group
from infra.cdk.policies import METRICS_NAMESPACE, bedrock_statements, clip_statements, put_metrics_statement

#: The bot's /healthz (REELBOT_BOT_METRICS_PORT's default), checked from inside the container.
HEALTH_PORT = 9109
#: Until the operator stores the real token (docs/AWS.md), the secret holds this.
TOKEN_PLACEHOLDER = "set-me: aws secretsmanager put-secret-value (see docs/AWS.md)"


class BotService(Construct):
    """The Discord token secret, the bot's task definition and its Fargate service."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        cluster: ecs.Cluster,
        vpc: ec2.IVpc,
        clips: s3.IBucket,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
    ) -> None:
        super().__init__(scope, id)
        self.discord_token = secretsmanager.Secret(
            self,
            "DiscordToken",
            description=f"Reelbot ({config.namespace}): the Discord bot token; set it with "
            "aws secretsmanager put-secret-value",
            # A placeholder, not a secret: CloudFormation never writes it again after creation,
            # so the operator's value survives later deploys.
            secret_string_value=cdk.SecretValue.unsafe_plain_text(TOKEN_PLACEHOLDER),
        )
        self.log_group = log_group(self, "Logs", config.log_days)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Reelbot bot: outbound only (Discord, Bedrock, CloudWatch, S3, Valkey)",
            allow_all_outbound=True,
        )

        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=1024,
            memory_limit_mib=2048,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        for statement in [
            *bedrock_statements(cdk.Stack.of(self), config),
            put_metrics_statement(),
            *clip_statements(clips, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
        ]:
            task.add_to_task_role_policy(statement)

        bot_environment = {
            **environment,
            "REELBOT_CLOUDWATCH_NAMESPACE": METRICS_NAMESPACE,
            "REELBOT_ENHANCE_MODEL": config.enhance_model,
        }
        if config.operator_ids:
            bot_environment["REELBOT_OPERATOR_IDS"] = config.operator_ids
        if config.guardrail_id:
            bot_environment["REELBOT_GUARDRAIL_ID"] = config.guardrail_id
            bot_environment["REELBOT_GUARDRAIL_VERSION"] = config.guardrail_version
        task.add_container(
            "bot",
            image=container_image(self, "Image", config.bot_image),
            environment=bot_environment,
            secrets={**secrets, "DISCORD_TOKEN": ecs.Secret.from_secrets_manager(self.discord_token)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="bot", log_group=self.log_group),
            health_check=ecs.HealthCheck(
                command=[
                    "CMD",
                    "python",
                    "-c",
                    "import urllib.request; "
                    f"urllib.request.urlopen('http://127.0.0.1:{HEALTH_PORT}/healthz', timeout=3)",
                ],
                interval=cdk.Duration.seconds(30),
                timeout=cdk.Duration.seconds(5),
                retries=3,
                start_period=cdk.Duration.seconds(120),
            ),
            stop_timeout=cdk.Duration.seconds(60),
        )
        self.task_definition = task
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=config.bot_desired_count,
            # The old task stops before the new one starts: one gateway session at a time.
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.security_group],
            assign_public_ip=False,
        )
