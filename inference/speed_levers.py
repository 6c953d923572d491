"""The speed settings' vocabulary: the choices each variable takes, the error, the resolved levers.

Standard library only: :mod:`inference.speed` resolves these from the environment and the
device, and the modules that apply the levers read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRESETS = ("exact", "balanced", "fast")
QUANT_MODES = ("none", "fp8", "int8")
ATTENTION_KERNELS = ("sdpa", "sage")
CACHES = ("none", "taylorseer", "first-block", "pab", "faster")


class SpeedError(ValueError):
    """A speed setting is invalid or the hardware cannot run it. The message says what to do."""


@dataclass(frozen=True, slots=True)
class Levers:
    """One resolved choice per lever."""

    compile: bool = False
    fuse_qkv: bool = False
    #: "none", "fp8" (row-wise dynamic, Hopper/Ada) or "int8" (dynamic)
    quant: str = "none"
    #: "sdpa" (PyTorch's attention) or "sage" (SageAttention's 8-bit kernel)
    attention: str = "sdpa"
    #: "none", "taylorseer", "first-block", "pab" or "faster"
    cache: str = "none"
    #: caches with a schedule: compute one step in this many in the middle of the schedule
    cache_interval: int = 2
    #: first-block cache: skip the other blocks while the first block's output changes by less
    cache_threshold: float = 0.05

    def describe(self) -> str:
        """The levers in one line, for logs, ``/healthz`` and a clip's metadata."""
        parts = []
        if self.compile:
            parts.append("compile")
        if self.fuse_qkv:
            parts.append("fused-qkv")
        if self.quant != "none":
            parts.append(self.quant)
        if self.attention != "sdpa":
            parts.append(f"{self.attention}-attention")
        if self.cache != "none":
            detail = (
                f"threshold {self.cache_threshold:g}"
                if self.cache == "first-block"
                else (f"every {self.cache_interval}")
            )
            parts.append(f"{self.cache} cache ({detail})")
        return ", ".join(parts) or "plain"


@dataclass(frozen=True, slots=True)
class Speed:
    """A worker's speed setting: the preset and the levers it resolved to on this device."""

    preset: str
    levers: Levers

    def describe(self) -> str:
        return f"{self.preset}: {self.levers.describe()}"

    def to_dict(self) -> dict[str, Any]:
        lever = self.levers
        return {
            "preset": self.preset,
            "compile": lever.compile,
            "fuse_qkv": lever.fuse_qkv,
            "quant": lever.quant,
            "attention": lever.attention,
            "cache": lever.cache,
            "cache_interval": lever.cache_interval,
        }
