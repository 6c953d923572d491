"""Speed presets and levers (inference/speed.py) on tiny pipelines through the production loader.

What each test holds: a lever that is off changes nothing (bit-identical frames); a cache
really skips work (counted block forwards), follows each job's own step count, and leaves
nothing behind when a render is cancelled; compiled blocks give the same frames with every
cache and do not recompile after warm-up; a lever the hardware cannot run stops the worker
at start with a message and exit code 2; every preset and lever renders an MP4 through the
queue and the worker, tagged with the speed it ran at.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference import speed as speed_module
from inference.contract import GenerationSpec, ModelId
from inference.generator import Generator, Rendered
from inference.jobqueue import QueueSettings
from inference.pipelines import ModelLoadError, load_models, worker_speed
from inference.settings import WorkerSettings
from inference.speed import CogVideoXAttention, SpeedError, resolve
from inference.video import probe_mp4
from tests.test_worker_process import REELBOT, env_for

PROMPT = "a red kite over green hills"


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 5b stand-in with four blocks: caches that treat the first block apart need more
    than one, and work is counted per block."""
    from inference.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("deep") / "5b", ModelId.COGVIDEOX_5B, layers=4)


@pytest.fixture
def aot_eager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Compile with the aot_eager backend: the same graph capture and guards as inductor,
    without minutes of C++ compiling on a CPU."""
    import torch

    monkeypatch.setattr(speed_module, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def generator(model_dir: Path, **levers: Any) -> Generator:
    settings = WorkerSettings(
        models=(str(model_dir),), vae_tiling=False, vae_slicing=False, count_work=True, **levers
    )
    return Generator(load_models(settings))


def render(gen: Generator, steps: int, seed: int = 3, on_step: Any = None) -> Rendered:
    spec = GenerationSpec(prompt=PROMPT, model=ModelId.COGVIDEOX_5B, seed=seed, steps=steps)
    return gen.render(spec, None, on_step or (lambda done, total: None))


# --- resolving presets ---------------------------------------------------------------------


def test_presets_resolve_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speed_module, "_can_compile", lambda: True)  # a GPU box with a compiler
    cpu = {p: resolve(p, {}, "cpu").levers for p in ("exact", "balanced")}
    assert cpu["exact"].describe() == "plain"  # on a CPU, exact is exactly today's path
    assert (cpu["balanced"].cache, cpu["balanced"].cache_interval, cpu["balanced"].compile) == (
        "taylorseer",
        2,
        False,
    )
    hopper = {p: resolve(p, {}, "cuda", (9, 0)).levers for p in ("exact", "balanced")}
    assert hopper["exact"].describe() == "compile, fused-qkv"
    assert hopper["balanced"].describe() == "compile, fused-qkv, taylorseer cache (every 2)"
    monkeypatch.setattr(speed_module, "_need", lambda module, what: None)  # as if torchao and sage were here
    fast_hopper = resolve("fast", {}, "cuda", (9, 0)).levers
    fast_ampere = resolve("fast", {}, "cuda", (8, 0)).levers
    assert (fast_hopper.quant, fast_hopper.attention, fast_hopper.cache_interval) == ("fp8", "sage", 3)
    assert fast_ampere.quant == "int8"  # no fp8 before compute capability 8.9


def test_without_a_compiler_the_preset_runs_eager_and_an_explicit_compile_is_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(speed_module, "_can_compile", lambda: False)
    levers = resolve("exact", {}, "cuda", (9, 0)).levers
    assert (levers.compile, levers.fuse_qkv) == (False, True)  # a fresh GPU box still starts
    assert "no C compiler" in caplog.text
    with pytest.raises(SpeedError, match=r"REELBOT_COMPILE=true needs a C compiler.*REELBOT_COMPILE=false"):
        resolve("exact", {"REELBOT_COMPILE": "true"}, "cuda", (9, 0))
    monkeypatch.setattr(speed_module, "_can_compile", lambda: True)
    assert resolve("exact", {}, "cuda", (9, 0)).levers.compile


def test_single_levers_override_the_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speed_module, "_can_compile", lambda: True)
    levers = resolve(
        "balanced",
        {"REELBOT_CACHE": "pab", "REELBOT_CACHE_INTERVAL": "4", "REELBOT_COMPILE": "false"},
        "cuda",
        (9, 0),
    ).levers
    assert (levers.cache, levers.cache_interval, levers.compile, levers.fuse_qkv) == ("pab", 4, False, True)


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("fast", {}, r"REELBOT_SPEED=fast runs SageAttention.*CUDA GPU.*REELBOT_ATTENTION=sdpa"),
        ("exact", {"REELBOT_QUANT": "fp8"}, r"REELBOT_QUANT=fp8 needs fp8.*Hopper or Ada.*a CPU"),
        ("exact", {"REELBOT_ATTENTION": "sage"}, r"REELBOT_ATTENTION=sage.*CUDA GPU"),
        ("exact", {"REELBOT_CACHE": "faster", "REELBOT_COMPILE": "true"}, r"REELBOT_COMPILE=false"),
    ],
)
def test_what_the_hardware_cannot_run_is_refused(
    preset: str, overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SpeedError, match=message):
        resolve(preset, overrides, "cpu")


def test_fp8_is_refused_on_a_gpu_without_it() -> None:
    with pytest.raises(SpeedError, match=r"compute capability below 8\.9.*REELBOT_QUANT=int8"):
        resolve("exact", {"REELBOT_QUANT": "fp8"}, "cuda", (8, 6))


def test_misspelt_speed_settings_are_configuration_errors() -> None:
    with pytest.raises(ValueError, match=r"REELBOT_SPEED='turbo': use one of exact, balanced, fast"):
        WorkerSettings(speed="turbo")
    with pytest.raises(ValueError, match=r"REELBOT_CACHE='teacache'"):
        WorkerSettings.from_env({"REELBOT_CACHE": "teacache"})
    with pytest.raises(ValueError, match=r"REELBOT_CACHE_INTERVAL='1'"):
        WorkerSettings(cache_interval=1)
    assert WorkerSettings.from_env({"REELBOT_COMPILE": "true"}).compile == "true"  # as before


def test_quantising_with_layer_by_layer_offload_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="REELBOT_OFFLOAD=model or none"):
        worker_speed(WorkerSettings(quant="int8", offload="sequential"), "cpu")


@pytest.mark.parametrize(
    ("variables", "named"),
    [({"REELBOT_SPEED": "fast"}, "REELBOT_ATTENTION=sdpa"), ({"REELBOT_QUANT": "fp8"}, "REELBOT_QUANT=fp8")],
)
def test_the_worker_refuses_at_start_with_exit_code_2(
    tiny_dirs: dict[str, Path], settings: QueueSettings, variables: dict[str, str], named: str
) -> None:
    done = subprocess.run(
        [*REELBOT, "worker", "--model", str(tiny_dirs["5b"])],
        capture_output=True,
        text=True,
        timeout=180,
        env=env_for(settings, **variables),
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("reelbot: cannot start")]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in done.stderr


# --- levers off change nothing ---------------------------------------------------------------


def test_exact_on_a_cpu_is_bit_identical_to_a_plain_pipeline(deep: Path) -> None:
    import torch

    gen = generator(deep)
    ours = render(gen, steps=6)
    pipe = gen.models[ModelId.COGVIDEOX_5B].pipe
    recipe = gen.models[ModelId.COGVIDEOX_5B].recipe
    assert ours.speed == "exact: plain" and ours.work == 1.0
    with torch.inference_mode():
        plain = pipe(
            prompt=PROMPT,
            num_inference_steps=6,
            guidance_scale=recipe.guidance,
            use_dynamic_cfg=recipe.dynamic_cfg,
            num_frames=recipe.frames,
            height=recipe.height,
            width=recipe.width,
            max_sequence_length=recipe.max_tokens,
            generator=torch.Generator("cpu").manual_seed(3),
            output_type="np",
        ).frames[0]
    assert np.array_equal(ours.frames, np.clip(np.rint(plain * 255.0), 0, 255).astype(np.uint8))


def test_fused_projections_and_our_attention_processor_change_nothing(deep: Path) -> None:
    baseline = render(generator(deep), steps=6).frames
    fused = generator(deep, fuse_qkv="true")
    assert render(fused, steps=6).frames.tobytes() == baseline.tobytes()
    for fuse in (False, True):
        gen = generator(deep, fuse_qkv=str(fuse).lower())
        # the processor that carries SageAttention on a GPU, here with PyTorch's kernel
        gen.models[ModelId.COGVIDEOX_5B].pipe.transformer.set_attn_processor(CogVideoXAttention("sdpa"))
        assert render(gen, steps=6).frames.tobytes() == baseline.tobytes()


# --- caches ----------------------------------------------------------------------------------


def expected_taylorseer_work(steps: int, interval: int) -> float:
    edge = max(2, round(steps * 0.1))
    return (2 * edge + math.ceil((steps - 2 * edge) / interval)) / steps


def test_caches_skip_work_and_follow_each_jobs_step_count(deep: Path) -> None:
    exact = render(generator(deep), steps=20)
    assert exact.work == 1.0
    gen = generator(deep, speed="balanced")
    for steps in (20, 12, 30, 20):  # one worker, jobs of different lengths
        rendered = render(gen, steps=steps)
        assert rendered.work == pytest.approx(expected_taylorseer_work(steps, 2))
    assert expected_taylorseer_work(50, 2) <= 0.7  # balanced's target at the recipes' 50 steps
    sparse = render(generator(deep, cache="taylorseer", cache_interval=3), steps=30)
    assert sparse.work == pytest.approx(expected_taylorseer_work(30, 3))
    pab = render(generator(deep, cache="pab"), steps=20)
    assert pab.work is not None and pab.work < 0.95  # attention reused on some steps
    first_block = render(generator(deep, cache="first-block"), steps=20)
    assert first_block.work is not None and first_block.work <= 1.0
    assert first_block.frames.shape == exact.frames.shape


def test_diffusers_default_taylorseer_patterns_would_skip_nothing(deep: Path) -> None:
    """The trap the issue names: TaylorSeer's own defaults never match CogVideoX's modules."""
    from diffusers.hooks.taylorseer_cache import TaylorSeerCacheConfig

    gen = generator(deep)
    loaded = gen.models[ModelId.COGVIDEOX_5B]
    loaded.pipe.transformer.enable_cache(TaylorSeerCacheConfig(cache_interval=2, disable_cache_before_step=2))
    defaults = render(gen, steps=12)
    assert defaults.work == 1.0  # every block ran: the hook caught nothing
    assert render(generator(deep, cache="taylorseer"), steps=12).work < 1.0


@pytest.mark.parametrize("cache", ["taylorseer", "pab", "first-block", "faster"])
def test_a_cancelled_render_leaves_nothing_behind(deep: Path, cache: str) -> None:
    gen = generator(deep, cache=cache)
    clean = render(gen, steps=12, seed=5)

    class Cancelled(Exception):
        pass

    def cancel_at_seven(done: int, total: int) -> None:
        if done == 7:
            raise Cancelled

    with pytest.raises(Cancelled):
        render(gen, steps=12, seed=9, on_step=cancel_at_seven)
    again = render(gen, steps=12, seed=5)
    assert again.frames.tobytes() == clean.frames.tobytes()
    assert again.work == clean.work


@pytest.mark.parametrize("cache", ["none", "taylorseer", "pab", "first-block"])
def test_compiled_blocks_give_the_same_frames_and_do_not_recompile(
    deep: Path, aot_eager: None, cache: str
) -> None:
    import torch

    eager = render(generator(deep, cache=cache), steps=50)
    compiled = generator(deep, cache=cache, compile="true")
    compiled.warm_up()  # two steps: the graphs are built here, before the first job
    torch._dynamo.config.error_on_recompile = True
    try:
        result = render(compiled, steps=50)
    finally:
        torch._dynamo.config.error_on_recompile = False
    assert "compile" in result.speed
    assert result.frames.tobytes() == eager.frames.tobytes()
    assert result.work == eager.work


# --- through the worker ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "levers",
    [
        {"speed": "exact"},
        {"speed": "balanced"},
        {"speed": "fast", "attention": "sdpa"},  # fast's cache and int8 (no sage on a CPU)
        {"fuse_qkv": "true"},
        {"quant": "int8"},
        {"compile": "true"},
        {"cache": "taylorseer"},
        {"cache": "first-block"},
        {"cache": "pab"},
        {"cache": "faster"},
    ],
    ids=lambda levers: "-".join(f"{k}={v}" for k, v in levers.items()),
)
async def test_every_preset_and_lever_renders_an_mp4_through_the_worker(
    deep: Path, tmp_path: Path, settings: QueueSettings, aot_eager: None, levers: dict[str, str]
) -> None:
    from inference.run import generate

    worker = WorkerSettings(models=(str(deep),), output_filter=False, metrics_port=0, **levers)
    out = tmp_path / "clip.mp4"
    code = await generate(PROMPT, out, worker, settings, seed=11)
    assert code == 0
    info = probe_mp4(out.read_bytes())
    assert (info.frames, info.width, info.height, info.fps) == (9, 96, 64, 8.0)
    preset = levers.get("speed", "exact")
    assert info.metadata["reelbot_speed"].startswith(f"{preset}: ")
    for name, value in levers.items():
        if name != "speed" and value not in ("true", "sdpa"):
            assert value in info.metadata["reelbot_speed"]


async def test_healthz_and_the_worker_registry_report_the_speed(
    deep: Path, queue: Any, redis: Any, settings: QueueSettings
) -> None:
    from inference.daemon import Daemon
    from inference.storage import RedisBlobStore

    store = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
    try:
        worker = WorkerSettings(models=(str(deep),), speed="balanced", metrics_port=0, output_filter=False)
        daemon = Daemon(queue, store, Generator(load_models(worker)), worker)
        healthy, body = daemon.health.report()
        assert healthy and body["speed"]["preset"] == "balanced" and body["speed"]["cache"] == "taylorseer"
        assert daemon.worker.info["speed"] == "balanced: taylorseer cache (every 2)"
    finally:
        await store.aclose()
