"""Speed presets: documented stacks of levers that make a render faster, each lever also settable alone.

A worker runs one preset (``REELBOT_SPEED``):

``exact``
    The same computation as a plain pipeline, plus only what changes the result by
    floating-point noise at most: the transformer blocks compiled (regional ``torch.compile``:
    the identical blocks share one graph, so warm-up is short) and the attention's query, key
    and value projections fused into one matrix multiply. Both on CUDA only; on a CPU the
    preset is exactly today's path. The default.
``balanced``
    ``exact`` plus step caching: TaylorSeer (diffusers' hook) predicts each block's output
    from the last computed ones, computing every second step in the middle of the schedule
    and every step at its start and end (about 0.6 of the block forwards at 50 steps).
``fast``
    ``balanced`` with a sparser cache (every third step) plus fp8 row-wise dynamic
    quantisation of the blocks' linear layers (int8 dynamic on a CUDA GPU without fp8) and
    an 8-bit attention kernel (SageAttention). CUDA only.

The levers (``REELBOT_COMPILE``, ``REELBOT_FUSE_QKV``, ``REELBOT_QUANT``,
``REELBOT_ATTENTION``, ``REELBOT_CACHE``) override the preset one by one. A lever the
hardware cannot run is refused when the worker starts (exit code 2), never silently dropped.

Wan 2.2 TI2V-5B takes every lever, laid out for its transformer (blocks under ``blocks``, with
``attn1``, ``attn2`` and ``ffn``): compile per block, fused projections through the transformer's
own ``fuse_qkv_projections`` (self-attention QKV, cross-attention KV), fp8/int8 on the blocks'
linear layers, TaylorSeer and first-block caches on whole blocks, PAB on the self-attention
(``attn1``). Two stay CogVideoX's: SageAttention (the ``fast`` preset's kernel; Reelbot's
processor is CogVideoX's joint attention) is skipped with a logged note, so Wan's ``fast`` is fp8
and a sparser cache; FasterCache is refused, since it skips the unconditional half of a batch
that Wan's pipeline never batches (it runs the two halves as separate calls).

Caches keep state across the steps of one render. :meth:`SpeedPlan.prepare` puts fresh
hooks on before every render, so a render that was cancelled halfway leaves nothing behind
and schedules that count steps follow each job's own step count.

The vocabulary (the choices, :class:`SpeedError`, :class:`Levers`, :class:`Speed`) lives in
``inference/speed_levers.py``, the per-family layouts, step caches and work counter in
``inference/speed_caches.py``, the attention processor in ``inference/speed_attention.py``;
this module resolves the settings and applies them, and every public name is importable from here.

Standard library at import time (the bot reads :func:`parse_levers` for ``/healthz``-style
reports); torch, diffusers and the optional ``torchao`` / ``sageattention`` load when used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inference.speed_attention import CogVideoXAttention
from inference.speed_caches import LAYOUTS, Layout, WorkCounter, attach_counter, cache_config, work_units
from inference.speed_levers import ATTENTION_KERNELS, CACHES, PRESETS, QUANT_MODES, Levers, Speed, SpeedError

__all__ = [
    "ATTENTION_KERNELS",
    "CACHES",
    "COMPILE_BACKEND",
    "LAYOUTS",
    "PRESETS",
    "QUANT_MODES",
    "CogVideoXAttention",
    "Layout",
    "Levers",
    "Speed",
    "SpeedError",
    "SpeedPlan",
    "WorkCounter",
    "apply",
    "parse_levers",
    "resolve",
    "warm_up",
]

log = logging.getLogger(__name__)

#: torch.compile's backend (tests on a CPU swap in "aot_eager", which checks the plumbing in
#: seconds instead of minutes of C++ compiling)
COMPILE_BACKEND = "inductor"


def parse_levers(environ: Mapping[str, str]) -> dict[str, str]:
    """The speed variables that are set, checked for spelling (no hardware check).

    Raises:
        SpeedError: a value is not one of the choices; the message names the variable.
    """
    checks: dict[str, tuple[str, ...]] = {
        "REELBOT_SPEED": PRESETS,
        "REELBOT_COMPILE": ("auto", "true", "false", "on", "off", "yes", "no", "1", "0"),
        "REELBOT_FUSE_QKV": ("auto", "true", "false", "on", "off", "yes", "no", "1", "0"),
        "REELBOT_QUANT": ("auto", *QUANT_MODES),
        "REELBOT_ATTENTION": ("auto", *ATTENTION_KERNELS),
        "REELBOT_CACHE": ("auto", *CACHES),
    }
    found = {}
    for name, choices in checks.items():
        raw = environ.get(name, "").strip().lower()
        if not raw:
            continue
        if raw not in choices:
            raise SpeedError(f"{name}={environ[name]!r}: use one of {', '.join(choices)}")
        if raw != "auto":  # auto: the preset decides
            found[name] = raw
    interval = environ.get("REELBOT_CACHE_INTERVAL", "").strip()
    if interval:
        if not interval.isdigit() or not 2 <= int(interval) <= 10:
            raise SpeedError(f"REELBOT_CACHE_INTERVAL={interval!r}: use a whole number from 2 to 10")
        found["REELBOT_CACHE_INTERVAL"] = interval
    return found


def resolve(
    preset: str, overrides: Mapping[str, str], device: str, capability: tuple[int, int] | None = None
) -> Speed:
    """The levers ``preset`` and the single-lever ``overrides`` give on ``device``.

    ``capability`` is the CUDA compute capability (read from the device when not given).

    Raises:
        SpeedError: the preset or a lever cannot run on this device, or an optional package is
            missing; the message says which setting to change.
    """
    if preset not in PRESETS:
        raise SpeedError(f"REELBOT_SPEED={preset!r}: use one of {', '.join(PRESETS)}")
    cuda = device.startswith("cuda")
    if cuda and capability is None:
        capability = _capability(device)
    fp8_ok = cuda and capability is not None and capability >= (8, 9)
    levers = Levers(compile=cuda, fuse_qkv=cuda)
    if preset == "balanced":
        levers = replace(levers, cache="taylorseer", cache_interval=2)
    elif preset == "fast":
        levers = replace(
            levers,
            cache="taylorseer",
            cache_interval=3,
            quant="fp8" if fp8_ok else "int8",
            attention="sage",
        )
    levers = _override(levers, overrides)
    if levers.compile and cuda and not _can_compile():
        if "REELBOT_COMPILE" in overrides:
            raise SpeedError(
                "REELBOT_COMPILE=true needs a C compiler and the Python headers at run time (Triton "
                "builds a small launcher): install gcc and python3-dev (python3.11-dev), or set "
                "REELBOT_COMPILE=false"
            )
        # the preset's compile is only a speed lever: without a compiler the worker runs eager
        log.warning(
            "REELBOT_SPEED=%s would compile the transformer, but there is no C compiler or no Python "
            "headers here: running without compile (install gcc and python3-dev to get it)",
            preset,
        )
        levers = replace(levers, compile=False)
    _check_hardware(preset, levers, overrides, device, cuda, fp8_ok)
    return Speed(preset, levers)


def _can_compile() -> bool:
    """Whether torch.compile can build its kernels here: a C compiler and the Python headers."""
    import shutil
    import sysconfig

    compiler = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return compiler is not None and headers.is_file()


def _override(levers: Levers, overrides: Mapping[str, str]) -> Levers:
    def flag(name: str, current: bool) -> bool:
        raw = overrides.get(name, "auto")
        return current if raw == "auto" else raw in ("true", "on", "yes", "1")

    def choice(name: str, current: str) -> str:
        raw = overrides.get(name, "auto")
        return current if raw == "auto" else raw

    levers = replace(
        levers,
        compile=flag("REELBOT_COMPILE", levers.compile),
        fuse_qkv=flag("REELBOT_FUSE_QKV", levers.fuse_qkv),
        quant=choice("REELBOT_QUANT", levers.quant),
        attention=choice("REELBOT_ATTENTION", levers.attention),
        cache=choice("REELBOT_CACHE", levers.cache),
    )
    if "REELBOT_CACHE_INTERVAL" in overrides:
        levers = replace(levers, cache_interval=int(overrides["REELBOT_CACHE_INTERVAL"]))
    return levers


def _check_hardware(
    preset: str, levers: Levers, overrides: Mapping[str, str], device: str, cuda: bool, fp8_ok: bool
) -> None:
    def source(name: str) -> str:
        return f"{name}={overrides[name]}" if name in overrides else f"REELBOT_SPEED={preset}"

    if levers.cache == "faster" and levers.compile:
        raise SpeedError(
            f"{source('REELBOT_CACHE')} (FasterCache) runs the unconditional half of the batch only on "
            "some steps, so compiled blocks would recompile for every change of batch size: set "
            "REELBOT_COMPILE=false with it, or use REELBOT_CACHE=taylorseer or pab"
        )
    if levers.quant == "fp8" and not fp8_ok:
        where = "a CPU" if not cuda else f"this GPU ({device}, compute capability below 8.9)"
        raise SpeedError(
            f"{source('REELBOT_QUANT')} needs fp8 matrix multiplies (an NVIDIA Hopper or Ada GPU), "
            f"but the worker runs on {where}: set REELBOT_QUANT=int8 on other CUDA GPUs, or "
            "REELBOT_QUANT=none (REELBOT_SPEED=exact or balanced)"
        )
    if levers.quant != "none":
        # int8 dynamic also runs on a CPU (slowly: it is there so the path can be tested anywhere)
        _need("torchao", "quantisation (REELBOT_QUANT)")
    if levers.attention == "sage":
        if not cuda:
            raise SpeedError(
                f"{source('REELBOT_ATTENTION')} runs SageAttention's Triton kernels, which need a CUDA "
                f"GPU, but the worker runs on {device}: set REELBOT_ATTENTION=sdpa, or REELBOT_SPEED=exact "
                "or balanced"
            )
        _need("sageattention", "the 8-bit attention kernel (REELBOT_ATTENTION=sage)")


def _need(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise SpeedError(
            f"{what} needs the {module} package, which is not installed: pip install 'reelbot[speed]' "
            "(or turn the lever off)"
        )


def _capability(device: str) -> tuple[int, int] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(device)
    return int(major), int(minor)


# --- applying the levers to a loaded pipeline -------------------------------------------------


@dataclass
class SpeedPlan:
    """The levers applied to one pipeline; :meth:`prepare` readies it for each render."""

    speed: Speed
    pipe: Any
    counter: WorkCounter | None = None
    #: where the transformer keeps its blocks (the caches' identifiers follow it)
    layout: Layout = field(default_factory=lambda: LAYOUTS["cogvideox"])
    #: a callable that returns the pipeline's current timestep (for the attention caches)
    _timestep: Callable[[], Any] = field(default=lambda: None)

    def prepare(self, steps: int) -> None:
        """Put fresh cache hooks on for a render of ``steps`` steps (and reset the counter).

        Called before every render: a render cancelled from the step callback leaves the
        hooks' state behind, and schedules that count steps must follow this job's count.
        """
        transformer = self.pipe.transformer
        if self.counter is not None:
            self.counter.executed = self.counter.calls = 0
            self.counter.steps = steps
        cache = self.speed.levers.cache
        if cache == "none":
            return
        if getattr(transformer, "is_cache_enabled", False):
            transformer.disable_cache()
        transformer.enable_cache(cache_config(self.speed.levers, steps, self._timestep, self.layout))


def apply(
    pipe: Any, speed: Speed, *, count_work: bool = False, family: str = "cogvideox", also: Any = None
) -> SpeedPlan:
    """Apply ``speed``'s levers to a loaded pipeline (on its device, offload hooks attached).

    The order matters: fused projections before quantisation (the fused matrix is what gets
    quantised), the attention processor after fusing (it reads either layout), the work
    counter and compile before the cache hooks (so the hooks stay outside compiled code and
    the counter sees only work that ran).

    Args:
        family: the model family ("cogvideox" or "wan"), which says where the blocks are.
        also: a second pipeline over the same transformer (Wan's image-to-video one), whose
            timestep the attention caches read while it renders.

    Raises:
        SpeedError: a lever this family cannot take (FasterCache on Wan).
    """
    levers = speed.levers
    layout = LAYOUTS[family]
    transformer = pipe.transformer
    if levers.cache == "faster" and family != "cogvideox":
        raise SpeedError(
            "REELBOT_CACHE=faster (FasterCache) skips the unconditional half of a batched guidance "
            f"call, which {family}'s pipeline does not make: use REELBOT_CACHE=taylorseer, "
            "first-block or pab"
        )
    if levers.fuse_qkv:
        # CogVideoX's pipeline method fuses its own processor's layout; Wan's attention modules
        # fuse through the transformer's (self-attention QKV, cross-attention KV)
        (pipe if family == "cogvideox" else transformer).fuse_qkv_projections()
    if levers.quant != "none":
        _quantise(transformer, levers.quant, layout)
    if levers.attention != "sdpa":
        if family == "cogvideox":
            transformer.set_attn_processor(CogVideoXAttention(kernel=levers.attention))
        else:
            log.info(
                "%s attention is CogVideoX's processor; %s keeps its own attention (PyTorch's SDPA)",
                levers.attention,
                family,
            )
    units = list(work_units(transformer, levers.cache, layout))
    if levers.compile:
        import torch

        for unit in units:
            # the unit's own forward, compiled before any cache hook wraps it: the hooks'
            # step bookkeeping stays in Python and never forces a recompile
            unit.forward = torch.compile(unit.forward, dynamic=False, backend=COMPILE_BACKEND)
    counter = attach_counter(transformer, units) if count_work else None
    plan = SpeedPlan(speed, pipe, counter, layout=layout)
    pipes = [pipe] if also is None else [pipe, also]
    # the one rendering has a timestep; the other's is None between its own renders
    plan._timestep = lambda: next((p.current_timestep for p in pipes if p.current_timestep is not None), None)
    return plan


def warm_up(render: Callable[[], None], what: str) -> float:
    """Run ``render`` once (a short render compiles the graphs) and log how long it took."""
    started = time.monotonic()
    render()
    seconds = time.monotonic() - started
    log.info("warmed up %s in %.1f s", what, seconds)
    return seconds


def _quantise(transformer: Any, mode: str, layout: Layout) -> None:
    import torch
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Int8DynamicActivationInt8WeightConfig,
        PerRow,
        quantize_,
    )

    config = (
        Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
        if mode == "fp8"
        else Int8DynamicActivationInt8WeightConfig()
    )

    def in_blocks(module: torch.nn.Module, name: str) -> bool:
        # only the blocks' linear layers: embeddings and the output projection stay exact
        return isinstance(module, torch.nn.Linear) and name.startswith(f"{layout.blocks}.")

    quantize_(transformer, config, filter_fn=in_blocks)
