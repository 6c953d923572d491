"""The GPU workers: an Auto Scaling group of ECS GPU hosts, and a service that scales on the queue, to zero.

Scaling has two halves. The service's task count follows the queue (``queue_scaling.py``).
The capacity provider's managed scaling then starts or stops GPU instances to fit the tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.cdk.config import StackConfig
from infra.cdk.images import container_image
from infra.cdk.log_groups import log_group
from infra.cdk.policies import clip_statements, gpu_host_statements
from infra.cdk.queue_scaling import QueueScaling

#: On the host, so the weights download once per instance and survive task restarts.
HF_CACHE_HOST_PATH = "/var/lib/reelbot/huggingface"
HF_CACHE_CONTAINER_PATH = "/cache/huggingface"
#: SIGTERM, then this long before SIGKILL: more than the worker's REELBOT_GRACE_SECONDS (60),
#: so a job near its end finishes and any other is handed back to the queue (ECS's maximum).
STOP_TIMEOUT = cdk.Duration.seconds(120)


class WorkerFleet(Construct):
    """GPU hosts (launch template + Auto Scaling group + capacity provider) and the worker service."""

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
        self.log_group = log_group(self, "Logs", config.log_days)
        self.auto_scaling_group = self._hosts(config, cluster, vpc)
        self.capacity_provider = ecs.AsgCapacityProvider(
            self,
            "CapacityProvider",
            auto_scaling_group=self.auto_scaling_group,
            enable_managed_scaling=True,
            # The service scales in only to zero, when nothing runs (queue_scaling.py), so an
            # instance goes when its tasks have ended; managed draining stops any task still on
            # one (a crash-looping worker, say) before it goes.
            enable_managed_termination_protection=False,
            enable_managed_draining=True,
            target_capacity_percent=100,
            machine_image_type=ecs.MachineImageType.AMAZON_LINUX_2,  # also right for AL2023
        )
        # With managed draining CDK adds no Lambda drain hook of its own.
        cluster.add_asg_capacity_provider(self.capacity_provider)

        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            description="Reelbot GPU worker tasks: outbound only (Valkey, S3, the Hugging Face Hub)",
            allow_all_outbound=True,
        )
        self.task_definition = self._task_definition(config, clips, environment, secrets)
        self.service = ecs.Ec2Service(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            # Zero until the queue asks; a deploy resets it to zero, and running jobs go back
            # to the queue (not counted as attempts), so deploy when the queue is quiet.
            desired_count=0,
            # Stop the old workers before starting new ones: never two GPUs per worker.
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(
                    capacity_provider=self.capacity_provider.capacity_provider_name, weight=1
                )
            ],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.security_group],
        )
        # ECS refuses a capacity provider the cluster is not associated with yet, and the
        # association is a resource of the cluster construct: create the service after it.
        self.service.node.add_dependency(cluster)
        self.scaling = QueueScaling(
            self,
            "Scaling",
            service=self.service,
            namespace=config.namespace,
            max_workers=config.max_workers,
            scale_in_minutes=config.scale_in_minutes,
        )

    def _hosts(
        self, config: StackConfig, cluster: ecs.Cluster, vpc: ec2.IVpc
    ) -> autoscaling.AutoScalingGroup:
        role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Reelbot GPU hosts: the ECS agent only (tasks have roles of their own)",
        )
        for statement in gpu_host_statements(cluster.cluster_arn, self.log_group.log_group_arn):
            role.add_to_policy(statement)
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            # The cache directory is shared by whatever user the worker image runs as.
            f"mkdir -p {HF_CACHE_HOST_PATH} && chmod 1777 {HF_CACHE_HOST_PATH}",
            "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config",
            # Tasks use their task roles, never the host's instance profile.
            "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config",
            # The worker image is large: reuse it when the instance already has it.
            "echo ECS_IMAGE_PULL_BEHAVIOR=prefer-cached >> /etc/ecs/ecs.config",
        )
        ami_kind = ecs.AmiHardwareType.GPU
        machine_image = (
            ecs.EcsOptimizedImage.amazon_linux2023(ami_kind)
            if config.worker_ami == "al2023"
            else ecs.EcsOptimizedImage.amazon_linux2(ami_kind)
        )
        security_group = ec2.SecurityGroup(
            self,
            "HostSecurityGroup",
            vpc=vpc,
            description="Reelbot GPU hosts: outbound only (ECS, ECR, image layers)",
            allow_all_outbound=True,
        )
        launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            machine_image=machine_image,
            instance_type=ec2.InstanceType(config.worker_instance_type),
            # The immutable view: CDK's ECS wiring would add its own statements (ecs:Submit*);
            # the role already has those, spelled out, from gpu_host_statements.
            role=role.without_policy_updates(),
            user_data=user_data,
            security_group=security_group,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        config.worker_volume_gb,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        encrypted=True,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        return autoscaling.AutoScalingGroup(
            self,
            "Hosts",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template=launch_template,
            min_capacity=0,
            max_capacity=config.max_workers,
        )

    def _task_definition(
        self,
        config: StackConfig,
        clips: s3.IBucket,
        environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret],
    ) -> ecs.Ec2TaskDefinition:
        task = ecs.Ec2TaskDefinition(self, "Task", network_mode=ecs.NetworkMode.AWS_VPC)
        for statement in clip_statements(clips, ["s3:GetObject", "s3:PutObject"]):
            task.add_to_task_role_policy(statement)
        task.add_volume(name="hf-cache", host=ecs.Host(source_path=HF_CACHE_HOST_PATH))
        container = task.add_container(
            "worker",
            image=container_image(self, "Image", config.worker_image),
            gpu_count=1,
            memory_reservation_mib=config.worker_memory_mib,
            environment={
                **environment,
                "REELBOT_MODELS": ",".join(config.model_list),
                "REELBOT_OFFLOAD": config.worker_offload,
                "HF_HOME": HF_CACHE_CONTAINER_PATH,
            },
            secrets=dict(secrets),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="worker", log_group=self.log_group),
            stop_timeout=STOP_TIMEOUT,
        )
        container.add_mount_points(
            ecs.MountPoint(container_path=HF_CACHE_CONTAINER_PATH, source_volume="hf-cache", read_only=False)
        )
        return task
