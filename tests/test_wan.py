"""Wan 2.2 TI2V-5B through the real worker: the tiny Wan pipeline saved to disk and loaded by the
worker's loader, a real Redis, and what a member would see in the decoded MP4 (frames, size, 24 fps)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from redis.asyncio import Redis

from inference.cli import main
from inference.contract import GenerationSpec, JobStatus, ModelId
from inference.daemon import Daemon
from inference.generator import Generator, Rendered, StepHook, to_uint8
from inference.images import encode_png
from inference.jobqueue import JobQueue
from inference.pipelines import LoadedModel, ModelLoadError, detect_model, load_models
from inference.recipes import WAN_NEGATIVE
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from tests.test_daemon import Scripted, job, serve, steady, store, worker_settings
from tests.test_length_shape import clip_of

__all__ = ["store"]  # a fixture shared with tests/test_daemon.py

WAN = ModelId.WAN22_TI2V_5B


@pytest.fixture(scope="module")
def wan(tiny_wan_dir: Path) -> dict[ModelId, LoadedModel]:
    return load_models(WorkerSettings(models=(str(tiny_wan_dir),), device="cpu"))


async def put_image(store: RedisBlobStore, size: tuple[int, int], colour: str) -> str:
    png = encode_png(Image.new("RGB", size, colour))
    return (await store.put(f"inputs/{colour}.png", png, "image/png")).ref


def test_the_tiny_wan_model_is_recognised_and_loaded_as_one_model_for_text_and_image(
    wan: dict[ModelId, LoadedModel], tiny_wan_dir: Path, tmp_path: Path
) -> None:
    loaded = wan[WAN]
    # one set of weights: the image pipeline runs the text pipeline's own modules
    assert type(loaded.pipe).__name__ == "WanPipeline"
    assert type(loaded.image_pipe).__name__ == "WanImageToVideoPipeline"
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert getattr(loaded.image_pipe, part) is getattr(loaded.pipe, part), part
    assert loaded.image_pipe.config.expand_timesteps and loaded.image_pipe.image_encoder is None
    assert loaded.pipe.vae.dtype == torch.float32  # the recipe's VAE precision
    scheduler = loaded.pipe.scheduler
    assert type(scheduler).__name__ == "UniPCMultistepScheduler" and scheduler.config.flow_shift == 5.0
    assert loaded.recipe.max_tokens == 512 and loaded.recipe.fps == 24
    # recognised from its configs alone, as the published directory would be
    bare = tmp_path / "wan"
    shutil.copytree(tiny_wan_dir, bare)
    (bare / "reelbot.json").unlink()
    assert detect_model(bare) is WAN


async def test_text_and_image_jobs_on_the_wan_lane_make_clips_of_the_shape_asked(
    queue: JobQueue, store: RedisBlobStore, wan: dict[ModelId, LoadedModel]
) -> None:
    landscape_image = await put_image(store, (640, 360), "orange")
    portrait_image = await put_image(store, (360, 640), "teal")
    asked = {
        "text, landscape": ({}, (128, 64)),
        "text, portrait": ({"shape": "portrait"}, (64, 128)),
        "landscape image": ({"image_ref": landscape_image}, (128, 64)),
        "portrait image": ({"image_ref": portrait_image}, (64, 128)),
    }
    ids = {
        name: (await queue.enqueue(job(name, WAN, seed=1, **spec))).job.id
        for name, (spec, _) in asked.items()
    }

    assert await serve(queue, store, Generator(wan)) == 0

    for name, (_, size) in asked.items():
        info = await clip_of(queue, store, ids[name])
        assert (info.frames, (info.width, info.height), info.fps) == (9, size, 24.0), name
        assert info.metadata["reelbot_model"] == WAN.value
        record = await queue.get(ids[name])
        clip = record.clip()
        assert clip is not None and clip.nsfw is not None and clip.nsfw.max < 0.5  # scored, not flagged


async def test_cancel_mid_render_stops_a_wan_job_within_a_step(
    queue: JobQueue, store: RedisBlobStore, wan: dict[ModelId, LoadedModel]
) -> None:
    seen: list[int] = []
    real = Generator(wan)

    def paced(spec: GenerationSpec, image: Any, on_step: StepHook) -> Rendered:
        def step(done: int, total: int) -> None:
            seen.append(done)
            time.sleep(0.1)
            on_step(done, total)

        return real.render(spec, image, step)

    renderer = Scripted(real, {})
    renderer.render = paced  # type: ignore[method-assign]
    enqueued = await queue.enqueue(job("a kite", WAN, steps=100))
    running = asyncio.create_task(serve(queue, store, renderer))
    while len(seen) < 3:
        await asyncio.sleep(0.05)
    cancelled_at = len(seen)
    await queue.cancel(enqueued.job.id)
    assert await running == 0
    final = await queue.get(enqueued.job.id)
    assert final.status is JobStatus.CANCELLED and final.result is None
    assert len(seen) <= cancelled_at + 2  # the step in flight, and the one that noticed


async def test_a_cogvideox_worker_and_a_wan_worker_share_one_queue_each_on_its_own_lane(
    queue: JobQueue,
    store: RedisBlobStore,
    redis: Redis,
    wan: dict[ModelId, LoadedModel],
    tiny_dirs: dict[str, Path],
) -> None:
    cog = load_models(WorkerSettings(models=(str(tiny_dirs["2b"]),), device="cpu"))
    jobs = {
        (await queue.enqueue(job(f"clip {n}", model, seed=n))).job.id: model
        for n, model in enumerate([WAN, ModelId.COGVIDEOX_2B, WAN, ModelId.COGVIDEOX_2B])
    }
    daemons = {
        model: Daemon(steady(queue), store, Generator(models), worker_settings(), worker_id=f"{model}-box")
        for model, models in ((WAN, wan), (ModelId.COGVIDEOX_2B, cog))
    }
    codes = await asyncio.wait_for(asyncio.gather(*(d.run(burst=True) for d in daemons.values())), 120)
    assert codes == [0, 0]

    for job_id, model in jobs.items():
        record = await queue.get(job_id)
        assert record.worker_id == f"{model}-box"  # the lane it asked for, nowhere else
        info = await clip_of(queue, store, job_id)
        expected = (9, 24.0, (128, 64)) if model is WAN else (9, 8.0, (96, 64))
        assert (info.frames, info.fps, (info.width, info.height)) == expected
        assert info.metadata["reelbot_model"] == model.value
    # each worker reports its own lane in /healthz and its jobs in /metrics
    assert daemons[WAN].health.report()[1]["models"] == [WAN.value]
    metrics = daemons[WAN].metrics.render().decode()
    assert f'reelbot_worker_jobs_total{{model="{WAN.value}",outcome="succeeded"}} 2.0' in metrics


async def test_the_wan_model_extends_its_own_clips(
    queue: JobQueue, store: RedisBlobStore, wan: dict[ModelId, LoadedModel]
) -> None:
    first = await queue.enqueue(job("a bee on a flower", WAN, shape="portrait", seed=3))
    assert await serve(queue, store, Generator(wan)) == 0
    earlier = (await queue.get(first.job.id)).clip()
    assert earlier is not None
    extend = await queue.enqueue(job("the bee flies off", WAN, extend_ref=earlier.clip_ref, seed=4))
    assert await serve(queue, store, Generator(wan)) == 0
    info = await clip_of(queue, store, extend.job.id)
    # continued from its last frame, portrait as the clip, the shared frame once
    assert (info.frames, info.width, info.height, info.fps) == (17, 64, 128, 24.0)
    assert info.metadata["reelbot_extends"] == first.job.id


class Recorder:
    """The Wan pipelines, recording the prompts they are asked to encode and render."""

    def __init__(self, pipe: Any, seen: list[dict[str, Any]]) -> None:
        self.pipe, self.seen = pipe, seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __call__(self, **kwargs: Any) -> Any:
        self.seen.append({k: kwargs.get(k) for k in ("prompt", "negative_prompt", "prompt_embeds")})
        return self.pipe(**kwargs)

    def encode_prompt(self, **kwargs: Any) -> Any:
        self.seen.append({"encoded": kwargs["prompt"], "negative_prompt": kwargs["negative_prompt"]})
        return self.pipe.encode_prompt(**kwargs)


def test_the_recipes_negative_prompt_is_used_when_the_member_gives_none(
    wan: dict[ModelId, LoadedModel],
) -> None:
    seen: list[dict[str, Any]] = []
    loaded = wan[WAN]
    spying = dataclasses.replace(
        loaded, pipe=Recorder(loaded.pipe, seen), image_pipe=Recorder(loaded.image_pipe, seen)
    )
    generator = Generator({WAN: spying})
    quiet = lambda step, total: None  # noqa: E731
    generator.render(GenerationSpec(prompt="a bee", model=WAN, seed=1), None, quiet)
    generator.render(GenerationSpec(prompt="a bee", model=WAN, seed=1, negative_prompt="blur"), None, quiet)
    image = Image.new("RGB", (200, 300), "red")
    spec = GenerationSpec(prompt="a cat", model=WAN, seed=1, image_ref="redis:x/inputs/a.png")
    generator.render(spec, image, quiet)

    assert seen[0] == {"prompt": "a bee", "negative_prompt": WAN_NEGATIVE, "prompt_embeds": None}
    assert seen[1]["negative_prompt"] == "blur"  # the member's own wins
    # an image job: the text pipeline encodes both prompts, the image pipeline renders with them
    assert seen[2] == {"encoded": "a cat", "negative_prompt": WAN_NEGATIVE}
    assert seen[3]["prompt"] is None and seen[3]["prompt_embeds"] is not None


def test_the_tiny_wan_models_noise_is_never_flagged_by_the_output_filter(
    wan: dict[ModelId, LoadedModel], classifier: NsfwClassifier
) -> None:
    recipe, seeds = wan[WAN].recipe, range(5000, 5016)
    with torch.inference_mode():
        output = wan[WAN].pipe(
            prompt=["a bee on a flower"] * len(seeds),
            num_inference_steps=recipe.steps,
            num_frames=recipe.frames,
            height=recipe.height,
            width=recipe.width,
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            output_type="np",
        )
    clips = to_uint8(np.asarray(output.frames))
    assert clips.shape == (len(seeds), 9, 64, 128, 3)
    highest = [classifier.score_frames(clip, samples=9).max for clip in clips]
    assert max(highest) < 0.3, highest
    assert abs(float(clips.mean()) - 127.5) < 20 and float(clips.std()) < 25  # calm
    assert len({clip.tobytes() for clip in clips}) == len(seeds)  # each seed its own


@pytest.mark.parametrize("cache", ["taylorseer", "first-block", "pab"])
def test_step_caches_work_on_wans_blocks(tiny_wan_dir: Path, cache: str) -> None:
    settings = WorkerSettings(models=(str(tiny_wan_dir),), device="cpu", cache=cache, count_work=True)
    generator = Generator(load_models(settings))
    rendered = generator.render(
        GenerationSpec(prompt="a bee", model=WAN, seed=2, steps=12), None, lambda s, t: None
    )
    assert rendered.frames.shape == (9, 64, 128, 3)
    assert rendered.work is not None and 0 < rendered.work < 1.0, f"{cache} skipped nothing"
    assert cache in rendered.speed


def test_fused_projections_int8_and_model_offload_apply_to_wan(tiny_wan_dir: Path) -> None:
    settings = WorkerSettings(
        models=(str(tiny_wan_dir),),
        device="cpu",
        fuse_qkv="true",
        quant="int8",
        offload="model",
        compile="true",
    )
    loaded = load_models(settings)[WAN]
    blocks = loaded.pipe.transformer.blocks
    assert all(block.attn1.fused_projections and block.attn2.fused_projections for block in blocks)
    assert "Int8" in type(blocks[0].ffn.net[2].weight).__name__  # the blocks' linears quantised
    assert all(hasattr(block.forward, "_torchdynamo_orig_callable") for block in blocks)  # compiled
    assert loaded.pipe._all_hooks and loaded.image_pipe._all_hooks  # offload serves both pipelines


def test_fastercache_is_refused_for_wan_at_start(tiny_wan_dir: Path) -> None:
    settings = WorkerSettings(models=(str(tiny_wan_dir),), device="cpu", cache="faster")
    with pytest.raises(ModelLoadError, match=r"REELBOT_CACHE=faster.*taylorseer"):
        load_models(settings)


def test_make_tiny_model_family_wan_writes_a_wan22_pipeline(tmp_path: Path) -> None:
    directory = tmp_path / "wan"
    assert main(["make-tiny-model", str(directory), "--family", "wan"]) == 0
    (directory / "reelbot.json").unlink()
    assert detect_model(directory) is WAN
    vae = json.loads((directory / "vae" / "config.json").read_text())
    assert (vae["z_dim"], vae["is_residual"], vae["patch_size"], vae["scale_factor_spatial"]) == (
        48,
        True,
        2,
        16,
    )
    assert json.loads((directory / "model_index.json").read_text())["expand_timesteps"] is True


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("wan21_vae", "Reelbot runs Wan 2.2 TI2V-5B"),
        ("no_weights", "could not load wan2.2-ti2v-5b from"),
        ("odd_frame", "must be a multiple of 32 pixels"),
    ],
)
def test_a_broken_wan_directory_stops_the_worker_with_exit_2_and_says_why(
    tiny_wan_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: str, message: str
) -> None:
    broken = tmp_path / "wan"
    shutil.copytree(tiny_wan_dir, broken)
    if breakage == "wan21_vae":  # a Wan 2.1 directory: 16 latent channels
        (broken / "reelbot.json").unlink()
        config = json.loads((broken / "vae" / "config.json").read_text())
        (broken / "vae" / "config.json").write_text(json.dumps(config | {"z_dim": 16}))
    elif breakage == "no_weights":
        for weights in (broken / "transformer").glob("*.safetensors"):
            weights.unlink()
    else:
        overrides = json.loads((broken / "reelbot.json").read_text())
        (broken / "reelbot.json").write_text(json.dumps(overrides | {"width": 112}))

    code = main(["worker", "--model", str(broken), "--device", "cpu"])

    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("reelbot:")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("reelbot: cannot start: "), lines
    assert message in lines[0]
