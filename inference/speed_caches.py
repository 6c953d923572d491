"""Where each family's transformer keeps its blocks, the step caches put on them, and the
counter of the transformer's work that really ran.

Standard library at import time; diffusers loads when a cache or the counter goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from inference.speed_levers import Levers

#: caches whose hooks sit on attention modules (the rest sit on whole blocks)
_ATTENTION_CACHES = ("pab", "faster")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a family's transformer keeps what the levers work on."""

    #: the attribute holding the transformer blocks (also the prefix of their module names)
    blocks: str
    #: each block's self-attention and feed-forward modules (the attention caches' units)
    attention: str
    feed_forward: str


LAYOUTS: dict[str, Layout] = {
    "cogvideox": Layout("transformer_blocks", "attn1", "ff"),
    "wan": Layout("blocks", "attn1", "ffn"),
}


def work_units(transformer: Any, cache: str, layout: Layout) -> Iterator[Any]:
    """The modules the compile lever, the counter and the caches work on: whole blocks, or each
    block's attention and feed-forward when the cache works on attention."""
    for block in getattr(transformer, layout.blocks):
        if cache in _ATTENTION_CACHES:
            yield getattr(block, layout.attention)
            yield getattr(block, layout.feed_forward)
        else:
            yield block


@dataclass
class WorkCounter:
    """Counts the transformer's units of work (block forwards, or attention and feed-forward
    calls when the cache works on attention) that really ran, for tests and benchmarks."""

    #: units per call of the transformer when nothing is skipped
    units_per_call: int
    executed: int = 0
    #: the transformer's calls: one per step where guidance is batched (CogVideoX), two where
    #: its halves run apart (Wan)
    calls: int = 0
    steps: int = 0

    @property
    def fraction(self) -> float:
        possible = self.units_per_call * self.calls
        return self.executed / possible if possible else 1.0


def attach_counter(transformer: Any, units: list[Any]) -> WorkCounter:
    """Count the calls of ``transformer`` and of each of its ``units`` (after compiling them).

    Returns:
        The counter the hooks add to.
    """
    # around the compiled forward, so it stays in Python (a count inside compiled code
    # would be a guard that recompiles on every call)
    counter = WorkCounter(units_per_call=len(units))
    for unit in units:
        _count_calls(unit, counter)
    transformer.register_forward_pre_hook(lambda _module, _args: _count_transformer_call(counter))
    return counter


def _count_transformer_call(counter: WorkCounter) -> None:
    counter.calls += 1


def _count_calls(module: Any, counter: WorkCounter) -> None:
    from diffusers.hooks.hooks import HookRegistry, ModelHook

    class _Count(ModelHook):
        def new_forward(self, module: Any, *args: Any, **kwargs: Any) -> Any:
            counter.executed += 1
            original: Any = self.fn_ref.original_forward
            return original(*args, **kwargs)

    HookRegistry.check_if_exists_or_initialize(module).register_hook(_Count(), "reelbot_count")  # type: ignore[no-untyped-call]


def cache_config(levers: Levers, steps: int, timestep: Callable[[], Any], layout: Layout) -> Any:
    """diffusers' config for ``levers.cache`` on a render of ``steps`` steps; ``timestep`` reads
    the pipeline's current timestep (for the caches that skip by timestep)."""
    from diffusers.hooks.faster_cache import FasterCacheConfig
    from diffusers.hooks.first_block_cache import FirstBlockCacheConfig
    from diffusers.hooks.pyramid_attention_broadcast import PyramidAttentionBroadcastConfig
    from diffusers.hooks.taylorseer_cache import TaylorSeerCacheConfig

    # full steps at both ends of the schedule, where the latents change fastest and the last
    # details form: a tenth of the steps each, at least two
    edge = max(2, round(steps * 0.1))
    if levers.cache == "taylorseer":
        return TaylorSeerCacheConfig(
            cache_interval=levers.cache_interval,
            disable_cache_before_step=edge,
            disable_cache_after_step=max(edge, steps - edge),
            max_order=1,
            taylor_factors_dtype=None,  # the model's own precision
            # diffusers' default patterns name attention modules CogVideoX does not have,
            # so the default silently caches nothing: name the blocks themselves
            cache_identifiers=[rf"{layout.blocks}\.\d+"],  # whole names (fullmatch)
        )
    if levers.cache == "first-block":
        return FirstBlockCacheConfig(threshold=levers.cache_threshold)
    if levers.cache == "pab":
        return PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=levers.cache_interval,
            spatial_attention_timestep_skip_range=(100, 800),
            # the blocks' self-attention (Wan's blocks also hold a cross-attention, attn2)
            spatial_attention_block_identifiers=(rf"^{layout.blocks}\.\d+\.{layout.attention}$",),
            current_timestep_callback=lambda: _timestep_value(timestep()),
        )
    return FasterCacheConfig(
        spatial_attention_block_skip_range=levers.cache_interval,
        spatial_attention_timestep_skip_range=(-1, 681),
        spatial_attention_block_identifiers=("transformer_blocks",),
        current_timestep_callback=lambda: _timestep_value(timestep()),
        attention_weight_callback=lambda _module: 0.3,
        unconditional_batch_skip_range=5,
        unconditional_batch_timestep_skip_range=(-1, 781),
        tensor_format="BFCHW",
    )


def _timestep_value(timestep: Any) -> int:
    if timestep is None:
        return 1000  # before the first step: outside every skip range
    return int(timestep.item() if hasattr(timestep, "item") else timestep)
