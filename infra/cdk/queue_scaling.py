"""The worker service's task count follows the queue: out while jobs wait, to zero when all is quiet.

The bot publishes, every minute, in the ``Reelbot`` namespace with the dimension
``Deployment`` = REELBOT_NAMESPACE: ``QueueDepth`` (jobs waiting for a worker) and
``RunningJobs`` (jobs being rendered). The service scales in only to zero, and only when both
have been 0 for a while, so scaling never cuts a render short.
"""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from infra.cdk.policies import METRICS_NAMESPACE

#: A new worker needs an instance, the image and (on a fresh instance) the weights: minutes.
#: Wait this long before adding another for the same backlog.
SCALE_OUT_COOLDOWN = cdk.Duration.minutes(10)
_PERIOD = cdk.Duration.minutes(1)


class QueueScaling(Construct):
    """Two alarms and two step-scaling actions on ``service``'s task count (0 to ``max_workers``)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: ecs.Ec2Service,
        namespace: str,
        max_workers: int,
        scale_in_minutes: int,
    ) -> None:
        super().__init__(scope, id)
        task_count = service.auto_scale_task_count(min_capacity=0, max_capacity=max_workers)
        # The actions attach to the ScalableTarget that auto_scale_task_count made.
        self.target = cast(appscaling.ScalableTarget, task_count.node.find_child("Target"))
        self.queued = queue_metric("QueueDepth", namespace)
        self.running = queue_metric("RunningJobs", namespace)
        self._scale_out()
        self._scale_to_zero(scale_in_minutes)

    def _scale_out(self) -> None:
        action = appscaling.StepScalingAction(
            self,
            "ScaleOut",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=SCALE_OUT_COOLDOWN,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        # Bounds are relative to the alarm's threshold (1): 1-4 waiting add one worker, 5+ add two.
        action.add_adjustment(adjustment=1, lower_bound=0, upper_bound=4)
        action.add_adjustment(adjustment=2, lower_bound=4)
        alarm = cloudwatch.Alarm(
            self,
            "JobsWaiting",
            alarm_description="Reelbot: jobs wait for a GPU worker; add one",
            metric=self.queued,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))

    def _scale_to_zero(self, minutes: int) -> None:
        action = appscaling.StepScalingAction(
            self,
            "ScaleToZero",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        action.add_adjustment(adjustment=0, upper_bound=0)
        outstanding = cloudwatch.MathExpression(
            expression="queued + running",
            using_metrics={"queued": self.queued, "running": self.running},
            label="Jobs queued or running",
            period=_PERIOD,
        )
        alarm = cloudwatch.Alarm(
            self,
            "Idle",
            alarm_description=f"Reelbot: no job queued or running for {minutes} min; stop every GPU worker",
            metric=outstanding,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=minutes,
            datapoints_to_alarm=minutes,
            # No data (the bot is down, or publishes no RunningJobs) never stops a render.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))


def queue_metric(name: str, namespace: str) -> cloudwatch.Metric:
    """One of the bot's queue metrics for the deployment ``namespace``, as its per-minute maximum."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"Deployment": namespace},
        statistic="Maximum",
        period=_PERIOD,
    )
