"""The deployment's settings, read once from CDK context (``cdk.json`` or ``-c key=value``).

Every value has a default here, so the stack also synthesises without ``cdk.json`` (the
tests do that); ``cdk.json`` repeats the defaults so an operator sees them in one place, and
``tests/test_cdk.py`` checks the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from infra.cdk.log_groups import RETENTION_DAYS as LOG_RETENTION_DAYS

T = TypeVar("T")


#: Key namespaces become Redis key prefixes and CloudWatch dimensions (see REELBOT_NAMESPACE).
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
#: An x86_64 NVIDIA GPU instance: the g and p families, less the Graviton ones (g5g: ARM).
_GPU_INSTANCE = re.compile(r"^(?!g5g\.)[gp]\d+[a-z]*\.[0-9a-z]+$")
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9.:_-]{2,127}$")
_GUARDRAIL = re.compile(r"^([a-z0-9]{1,64}|arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:guardrail/[a-z0-9]+)$")
_GUARDRAIL_VERSION = re.compile(r"^(DRAFT|[1-9][0-9]{0,7})$")
_CACHE_NODE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
#: Cross-region inference profiles are model ids with a geography in front (us.amazon.nova-...).
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca.")


class ConfigError(ValueError):
    """A context value is invalid; the message names the key and what to give instead."""


@dataclass(frozen=True)
class StackConfig:
    """What varies between Reelbot deployments. Field names are the context keys in snake case."""

    #: REELBOT_NAMESPACE: Redis key prefix, and the CloudWatch dimension the scaling reads
    namespace: str = "reelbot"
    #: REELBOT_MODELS for the workers (comma-separated ids)
    models: str = "cogvideox-5b,cogvideox-5b-i2v"
    #: the GPU instance the workers run on (one task per GPU)
    worker_instance_type: str = "g6e.xlarge"
    #: the ECS-optimised GPU AMI: "al2023" or "al2" (Amazon Linux 2 is past its end of support)
    worker_ami: str = "al2023"
    #: the most GPU workers (tasks, and instances) at once
    max_workers: int = 4
    #: the worker instances' root volume: the image, and the Hugging Face cache of the weights
    worker_volume_gb: int = 200
    #: REELBOT_OFFLOAD: "none", or "model"/"sequential" CPU offload for GPUs with too little memory
    worker_offload: str = "none"
    #: soft memory reservation of a worker task (MiB); a g*.xlarge has 16 GiB
    worker_memory_mib: int = 12288
    #: minutes without queued or running jobs before the workers scale to zero
    scale_in_minutes: int = 15
    #: Bedrock model (or inference profile) for prompt enhancement: REELBOT_ENHANCE_MODEL
    enhance_model: str = "amazon.nova-lite-v1:0"
    #: Bedrock guardrail id ("" = none): REELBOT_GUARDRAIL_ID; with it, bedrock:ApplyGuardrail
    guardrail_id: str = ""
    #: REELBOT_GUARDRAIL_VERSION
    guardrail_version: str = "DRAFT"
    #: days a clip stays in the bucket before the lifecycle rule deletes it
    clip_days: int = 7
    #: days CloudWatch keeps the services' logs, and the bucket keeps S3 access logs
    log_days: int = 30
    #: NAT gateways (1 is cheapest; 2 keeps egress up when one AZ fails; 0 is not supported)
    nat_gateways: int = 1
    #: the ElastiCache node type
    cache_node_type: str = "cache.t4g.small"
    #: a replica in a second AZ with automatic failover (doubles the cache's price)
    cache_failover: bool = True
    #: image URIs; an ECR URI gets pull permissions, any other must be public
    bot_image: str = "ghcr.io/reelbot/bot:latest"
    worker_image: str = "ghcr.io/reelbot/worker:latest"
    #: REELBOT_OPERATOR_IDS: Discord user ids allowed /queue pause|drain|resume (comma-separated)
    operator_ids: str = ""
    #: 1 normally; 0 for the first deploy, before the Discord token is in its secret
    bot_desired_count: int = 1

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (
                bool(_NAMESPACE.match(self.namespace)),
                f"namespace={self.namespace!r}: use 1-32 lowercase letters, digits and -",
            ),
            (
                bool(self.model_list) and all(_MODEL_ID.match(m) for m in self.model_list),
                f"models={self.models!r}: give model ids, comma-separated (cogvideox-5b,cogvideox-5b-i2v)",
            ),
            (
                bool(_GPU_INSTANCE.match(self.worker_instance_type)),
                f"workerInstanceType={self.worker_instance_type!r}: use an x86_64 NVIDIA GPU type "
                "such as g5.xlarge, g6.xlarge or g6e.xlarge",
            ),
            (self.worker_ami in ("al2023", "al2"), f"workerAmi={self.worker_ami!r}: use al2023 or al2"),
            (
                self.worker_offload in ("none", "model", "sequential"),
                f"workerOffload={self.worker_offload!r}: use none, model or sequential",
            ),
            (1 <= self.max_workers <= 100, f"maxWorkers={self.max_workers}: use 1 to 100"),
            (50 <= self.worker_volume_gb <= 2000, f"workerVolumeGb={self.worker_volume_gb}: use 50 to 2000"),
            (
                2048 <= self.worker_memory_mib <= 1_048_576,
                f"workerMemoryMiB={self.worker_memory_mib}: use 2048 or more",
            ),
            (1 <= self.scale_in_minutes <= 1440, f"scaleInMinutes={self.scale_in_minutes}: use 1 to 1440"),
            (
                bool(_MODEL_ID.match(self.enhance_model)),
                f"enhanceModel={self.enhance_model!r}: give a Bedrock model id like amazon.nova-lite-v1:0",
            ),
            (
                not self.guardrail_id or bool(_GUARDRAIL.match(self.guardrail_id)),
                f"guardrailId={self.guardrail_id!r}: give the guardrail's id (or its ARN), or leave it empty",
            ),
            (
                bool(_GUARDRAIL_VERSION.match(self.guardrail_version)),
                f"guardrailVersion={self.guardrail_version!r}: use DRAFT or a version number",
            ),
            (1 <= self.clip_days <= 3650, f"clipDays={self.clip_days}: use 1 to 3650"),
            (
                self.log_days in LOG_RETENTION_DAYS,
                f"logDays={self.log_days}: use one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
            ),
            (
                1 <= self.nat_gateways <= 2,
                f"natGateways={self.nat_gateways}: use 1 or 2 (the bot and the workers need egress)",
            ),
            (
                bool(_CACHE_NODE.match(self.cache_node_type)),
                f"cacheNodeType={self.cache_node_type!r}: use an ElastiCache node type like cache.t4g.small",
            ),
            (bool(self.bot_image.strip()), "botImage is empty: give the bot image's URI"),
            (bool(self.worker_image.strip()), "workerImage is empty: give the worker image's URI"),
            (
                all(part.strip().isdigit() for part in self.operator_ids.split(",") if part.strip()),
                f"operatorIds={self.operator_ids!r}: give Discord user ids (numbers), comma-separated",
            ),
            (self.bot_desired_count in (0, 1), "botDesiredCount: use 1, or 0 before the token is set"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ConfigError("invalid CDK context: " + "; ".join(problems))

    @property
    def model_list(self) -> list[str]:
        """The worker's models, one id per entry."""
        return [m.strip() for m in self.models.split(",") if m.strip()]

    @property
    def enhance_model_is_profile(self) -> bool:
        """Whether the enhancement model is a cross-region inference profile (``us.amazon...``)."""
        return self.enhance_model.startswith(_PROFILE_PREFIXES)

    @property
    def enhance_foundation_model(self) -> str:
        """The foundation model behind the enhancement model (itself, unless it is a profile)."""
        if self.enhance_model_is_profile:
            return self.enhance_model.split(".", 1)[1]
        return self.enhance_model

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackConfig:
        """Build the settings from CDK context (``node.try_get_context``).

        ``-c key=value`` arrives as a string, ``cdk.json`` as JSON; both are accepted.

        Raises:
            ConfigError: a value does not parse or is out of range; the message names the key.
        """
        values: dict[str, object] = {}
        for f in fields(cls):
            key = context_key(f.name)
            raw = get(key)
            if raw is None:
                continue
            kind = type(f.default)
            values[f.name] = _parse(key, raw, kind)
        return cls(**values)  # type: ignore[arg-type]

    def as_context(self) -> Mapping[str, object]:
        """The settings as context keys and values (what ``cdk.json`` holds)."""
        return {context_key(f.name): getattr(self, f.name) for f in fields(self)}


def context_key(field_name: str) -> str:
    """``worker_instance_type`` -> ``workerInstanceType``; ``worker_memory_mib`` -> ``workerMemoryMiB``."""
    head, *rest = field_name.split("_")
    words = [{"mib": "MiB", "gb": "Gb"}.get(w, w.capitalize()) for w in rest]
    return head + "".join(words)


def _parse(key: str, raw: object, kind: type[T]) -> T:
    if kind is bool:
        if isinstance(raw, bool):
            return raw  # type: ignore[return-value]
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True  # type: ignore[return-value]
        if text in ("false", "0", "no", "off"):
            return False  # type: ignore[return-value]
        raise ConfigError(f"invalid CDK context: {key}={raw!r} is not true or false")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"invalid CDK context: {key}={raw!r} is not a whole number")
        try:
            return int(str(raw).strip())  # type: ignore[return-value]
        except ValueError:
            raise ConfigError(f"invalid CDK context: {key}={raw!r} is not a whole number") from None
    return str(raw).strip()  # type: ignore[return-value]
