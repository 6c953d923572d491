"""The services' CloudWatch log groups: a retention from context, deleted with the stack."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

_RETENTION = {  # CloudWatch Logs accepts only these periods (days)
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

#: The retention periods (days) CloudWatch Logs accepts.
RETENTION_DAYS = tuple(_RETENTION)


def log_group(scope: Construct, id: str, days: int) -> logs.LogGroup:
    """A log group that keeps events ``days`` days (one of CloudWatch's allowed periods)."""
    if days not in _RETENTION:
        raise ValueError(f"log retention {days} days is not one CloudWatch offers: use {sorted(_RETENTION)}")
    return logs.LogGroup(scope, id, retention=_RETENTION[days], removal_policy=cdk.RemovalPolicy.DESTROY)
