"""Full-size CogVideoX and Wan 2.2 TI2V-5B through Reelbot's render path, per speed preset, random weights.

Per model it builds the published architecture with random weights (no download, no Hub) and
saves it as a diffusers pipeline directory with a ``reelbot.json`` naming the model. Per
speed preset it then does what a worker does: ``inference.pipelines.load_models`` with
``REELBOT_SPEED=<preset>`` (the worker's defaults otherwise: no offload, VAE tiling and slicing
on), ``Generator.warm_up()`` (timed: the compile warm-up) and ``Generator.render()`` of one
clip, timed whole: prompt encoding, every denoising step with classifier-free guidance, the
VAE decode, the frames as uint8. A preset the hardware cannot run is reported as refused,
with the worker's own message.

Run it from the repository root (it imports the ``inference`` package beside it):

    python bench/gpu.py --tiny                                     # CPU smoke run, seconds
    python bench/gpu.py --models 2b --json bench/results/gpu-2b.json
    python bench/gpu.py --models 5b --presets exact,balanced --json bench/results/gpu-5b.json
    python bench/gpu.py --models 5b --presets fast --json bench/results/gpu-5b-fast.json
    python bench/gpu.py --models 1.5-5b --presets exact --models-dir /tmp/reelbot-models \
        --json bench/results/gpu-15-exact.json
    python bench/gpu.py --models 1.5-5b --presets balanced --models-dir /tmp/reelbot-models \
        --json bench/results/gpu-15-balanced.json
    python bench/gpu.py --models wan2.2-5b --presets exact --models-dir /tmp/reelbot-models \
        --json bench/results/gpu-wan-exact.json
    python bench/gpu.py --table bench/results/gpu-*.json           # one table from split runs

One invocation should stay under 8 minutes on one H100, hence the split: a model is built
once per invocation (about its weights' size written to disk and read back), and each preset
costs a load, a warm-up and a render. ``--models-dir`` keeps the built directories, so that
the next invocation on the same machine skips the build (delete the folder when done); without
it each directory goes to a temporary folder that is deleted after the model's runs. The split
above is planned from the published clip times (5b about 90 s, 1.5-5b several minutes at 50
steps), not measured yet. Every row goes to the ``--json`` file as soon as it is measured, so
a run cut short keeps what it had.

On a lent GPU machine with no network: the device tool copies the working tree, which is all
of Reelbot this needs. The machine must have a CUDA build of torch, plus diffusers (>= 0.42),
transformers, accelerate, numpy and pillow; ``fast`` also needs torchao and sageattention.
Carry wheels for whichever of those it lacks, and ``pip install --no-index`` them first.

The text encoder is a stand-in: T5-v1.1-XXL's layer shape (umT5-XXL's for Wan; output width 4096)
with one layer instead of 24 and a small vocabulary made in-process, since encoding one prompt is
negligible next to 50 steps. Wan 2.2 TI2V-5B renders its recipe's 121 frames at 1280 x 704 (a 5 s
clip at 24 fps), from text; its VAE is built and run in float32 as the worker runs it, with
neutral latent statistics (means 0, deviations 1: random weights make the published ones moot).
The scheduler has diffusers' default configuration (its arithmetic is
negligible too); the loader applies each model's recipe to it, as in production.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/queue.py would then
# shadow the standard library's ``queue`` (which torch imports). Put the project root there.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import gc
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from inference.contract import GenerationSpec, ModelId
from inference.recipes import OVERRIDES_FILE, Recipe, recipe_for
from inference.wan import scheduler as wan_scheduler

PRESETS = ("exact", "balanced", "fast")
PROMPT = "a bee on a flower in the rain at night"
NOTE_TEXT_ENCODER = (
    "Text encoder: a stand-in with T5-XXL's output width {width} and one layer (the real one has 24), "
    "and a small in-process vocabulary; encoding a prompt once is negligible next to {steps} steps."
)

# ------------------------------------------------------------------------------ configs
# The published diffusers configs, copied value for value (keys that only record provenance,
# such as _class_name and _diffusers_version, left out).
#
# THUDM/CogVideoX-2b transformer/config.json, as vendored in kijai/ComfyUI-CogVideoXWrapper
# configs/transformer_config_2b.json (with its "_diffusers_version": "0.30.0.dev0"); the same
# values in MinusZoneAI/ComfyUI-CogVideoX-MZ and in diffusers' convert_cogvideox_to_diffusers.py
# ("For CogVideoX-2B, num_layers is 30 ... num_attention_heads is 30 ... RoPE False").
TRANSFORMER_2B: dict[str, Any] = {
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "dropout": 0.0,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 16,
    "max_text_seq_length": 226,
    "norm_elementwise_affine": True,
    "norm_eps": 1e-05,
    "num_attention_heads": 30,
    "num_layers": 30,
    "out_channels": 16,
    "patch_size": 2,
    "sample_frames": 49,
    "sample_height": 60,
    "sample_width": 90,
    "spatial_interpolation_scale": 1.875,
    "temporal_compression_ratio": 4,
    "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096,
    "time_embed_dim": 512,
    "timestep_activation_fn": "silu",
    "use_rotary_positional_embeddings": False,
}
# THUDM/CogVideoX-5b transformer/config.json, as vendored in kijai/ComfyUI-CogVideoXWrapper
# configs/transformer_config_5b.json: 42 layers, 48 heads x 64, rotary embeddings.
TRANSFORMER_5B: dict[str, Any] = {
    **TRANSFORMER_2B,
    "num_attention_heads": 48,
    "num_layers": 42,
    "use_rotary_positional_embeddings": True,
}
# THUDM/CogVideoX1.5-5B: the 5b values plus what diffusers' scripts/convert_cogvideox_to_diffusers.py
# sets for version "1.5" (get_transformer_init_kwargs: patch_size_t 2, patch_bias False, sample
# 300 x 300 x 81); the full dict agrees with the vendored copy in painebenjamin/taproot
# (CogVideoX15Transformer5B.get_default_config).
TRANSFORMER_15_5B: dict[str, Any] = {
    **TRANSFORMER_5B,
    "patch_bias": False,
    "patch_size_t": 2,
    "sample_frames": 81,
    "sample_height": 300,
    "sample_width": 300,
    "use_learned_positional_embeddings": False,
}
# THUDM/CogVideoX-5b vae/config.json, as vendored in kijai/ComfyUI-CogVideoXWrapper configs/vae_config.json.
VAE_5B: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 256, 512],
    "down_block_types": ["CogVideoXDownBlock3D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 16,
    "latents_mean": None,
    "latents_std": None,
    "layers_per_block": 3,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_height": 480,
    "sample_width": 720,
    "scaling_factor": 0.7,
    "shift_factor": None,
    "temporal_compression_ratio": 4,
    "up_block_types": ["CogVideoXUpBlock3D"] * 4,
    "use_post_quant_conv": False,
    "use_quant_conv": False,
}
# THUDM/CogVideoX-2b vae/config.json differs only in its scaling factor (diffusers'
# convert_cogvideox_to_diffusers.py: "For CogVideoX-2B, scaling_factor is 1.15258426. For 5B, it is 0.7").
VAE_2B: dict[str, Any] = {**VAE_5B, "scaling_factor": 1.15258426}
# CogVideoX1.5: the same VAE with inverted latent scaling (convert_vae for version "1.5").
VAE_15_5B: dict[str, Any] = {**VAE_5B, "invert_scale_latents": True}
# Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json (diffusers' convert_wan_to_diffusers.py,
# "Wan2.2-TI2V-5B"): 30 layers, 24 heads x 128 (width 3072), FFN 14336, 48 channels in and out.
TRANSFORMER_WAN22_5B: dict[str, Any] = {
    "added_kv_proj_dim": None,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-06,
    "ffn_dim": 14336,
    "freq_dim": 256,
    "image_dim": None,
    "in_channels": 48,
    "num_attention_heads": 24,
    "num_layers": 30,
    "out_channels": 48,
    "patch_size": [1, 2, 2],
    "pos_embed_seq_len": None,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}
# Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json (the same values in diffusers' conversion script's
# vae22_diffusers_config), latent statistics neutral (see the module docstring).
VAE_WAN22: dict[str, Any] = {
    "attn_scales": [],
    "base_dim": 160,
    "decoder_base_dim": 256,
    "dim_mult": [1, 2, 4, 4],
    "dropout": 0.0,
    "in_channels": 12,
    "is_residual": True,
    "latents_mean": [0.0] * 48,
    "latents_std": [1.0] * 48,
    "num_res_blocks": 2,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "temperal_downsample": [False, True, True],
    "z_dim": 48,
}
# The text encoder stand-in: one layer of T5-v1.1-XXL's shape (google/t5-v1_1-xxl config.json:
# d_model 4096, d_ff 10240, 64 heads of 64, gated GELU), whose output width the transformer reads.
TEXT_XXL: dict[str, Any] = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 1,
    "feed_forward_proj": "gated-gelu",
}


@dataclass(frozen=True)
class ModelSpec:
    """One model to benchmark: its configs, and the recipe fields its ``reelbot.json`` overrides."""

    key: str
    model: ModelId
    transformer: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any] = field(default_factory=lambda: dict(TEXT_XXL))
    overrides: dict[str, Any] = field(default_factory=dict)
    tiny: bool = False

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def recipe(self) -> Recipe:
        """The recipe the worker runs this directory with (dtype, frame grid, scheduler)."""
        return recipe_for(self.model).with_overrides(self.overrides)

    @property
    def dtype(self) -> torch.dtype:
        """The build precision: the recipe's on a GPU; float32 for the CPU smoke run."""
        return torch.float32 if self.tiny else getattr(torch, self.recipe.dtype)


MODELS: dict[str, ModelSpec] = {
    "2b": ModelSpec("2b", ModelId.COGVIDEOX_2B, TRANSFORMER_2B, VAE_2B),
    "5b": ModelSpec("5b", ModelId.COGVIDEOX_5B, TRANSFORMER_5B, VAE_5B),
    "1.5-5b": ModelSpec("1.5-5b", ModelId.COGVIDEOX15_5B, TRANSFORMER_15_5B, VAE_15_5B),
    # umT5-XXL (google/umt5-xxl config.json) has T5-v1.1-XXL's layer shape: the same stand-in
    "wan2.2-5b": ModelSpec("wan2.2-5b", ModelId.WAN22_TI2V_5B, TRANSFORMER_WAN22_5B, VAE_WAN22),
}

# Published end-to-end figures (real weights, full pipeline, 50 steps); not measured here.
# sayakpaul/diffusers-torchao README, H100 table, bf16 with fuse_qkv: 112.398 s eager,
# 87.455 s compiled, 75.255 s with fp8 (torchao float8 dynamic) and compile.
PUBLISHED: list[dict[str, Any]] = [
    {"model": "CogVideoX-5b", "setup": "1x H100, bf16, fused QKV, eager", "seconds": 112.4,
     "source": "sayakpaul/diffusers-torchao README, H100 table"},
    {"model": "CogVideoX-5b", "setup": "1x H100, bf16, fused QKV, torch.compile", "seconds": 87.5,
     "source": "sayakpaul/diffusers-torchao README, H100 table"},
    {"model": "CogVideoX-5b", "setup": "1x H100, fp8 dynamic, fused QKV, torch.compile", "seconds": 75.3,
     "source": "sayakpaul/diffusers-torchao README, H100 table"},
    {"model": "CogVideoX-5b", "setup": "1x H100", "seconds": 90, "source": "THUDM/CogVideo README"},
    {"model": "CogVideoX-2b", "setup": "1x H100", "seconds": 45, "source": "THUDM/CogVideo README"},
    {"model": "CogVideoX1.5-5b", "setup": "1x H100, 81 frames 768x1360", "seconds": 550,
     "source": "THUDM/CogVideo README"},
    {"model": "Wan2.2-TI2V-5B", "setup": "1x consumer GPU (24 GB, RTX 4090 class), 5 s 720p, no optimisation",
     "seconds": 540, "source": "Wan-Video/Wan2.2 README (\"under 9 minutes\")"},
]  # fmt: skip


def tiny_spec(spec: ModelSpec) -> ModelSpec:
    """The same model family shrunk to four blocks and a 9 x 64 x 64 clip, for a CPU smoke run.

    Four blocks, since step caches work per block; the 1.5 stand-in keeps its temporal patching.
    """
    if spec.family == "wan":
        return tiny_wan_spec(spec)
    transformer = {
        **spec.transformer,
        "num_layers": 4,
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "text_embed_dim": 32,
        "max_text_seq_length": 16,
        "time_embed_dim": 16,
        "sample_frames": 9,
        "sample_height": 8,
        "sample_width": 8,
    }
    vae = {**spec.vae, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1, "norm_num_groups": 4}
    # Tiles of 48 x 40 px (half the sample size), so the 64 x 64 px clip is decoded as 2 x 2 tiles that
    # add up to 64 x 64 exactly (smaller tiles leave the tiled decode a few pixels over).
    vae |= {"sample_height": 96, "sample_width": 80}
    text = {"d_model": 32, "d_ff": 37, "d_kv": 8, "num_heads": 4, "num_layers": 1}
    overrides = {"frames": 9, "height": 64, "width": 64}
    return replace(spec, transformer=transformer, vae=vae, text=text, overrides=overrides, tiny=True)


def tiny_wan_spec(spec: ModelSpec) -> ModelSpec:
    """Wan 2.2 TI2V-5B shrunk as :func:`tiny_spec` shrinks CogVideoX (48 latent channels kept)."""
    transformer = {
        **spec.transformer,
        "num_layers": 4,
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "text_dim": 32,
        "ffn_dim": 32,
        "freq_dim": 16,
        "rope_max_seq_len": 64,
    }
    vae = {**spec.vae, "base_dim": 8, "decoder_base_dim": 8, "num_res_blocks": 1}
    text = {"d_model": 32, "d_ff": 37, "d_kv": 8, "num_heads": 4, "num_layers": 1}
    overrides = {"frames": 9, "height": 64, "width": 64}
    return replace(spec, transformer=transformer, vae=vae, text=text, overrides=overrides, tiny=True)


# ------------------------------------------------------------------------------ building


STARTED = time.perf_counter()


def say(message: str) -> None:
    """A progress line on stderr with the seconds since start, flushed (the table goes to stdout)."""
    print(f"[bench/gpu {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def quiet_progress_bars() -> None:
    """Turn off the libraries' loading and saving bars: the progress lines say what runs."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Create new floating-point tensors in ``dtype`` for the duration of the block."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def stand_in_text_parts(spec: ModelSpec) -> tuple[Any, Any]:
    """A T5 tokenizer made in-process (letters, digits, a few words) and a one-layer T5 encoder
    (umT5 for Wan)."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer, UMT5Config, UMT5EncoderModel

    # T5's layout: <pad>=0, </s>=1, <unk>=2, then the pieces; letters spell out any word
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(chr(c), -4.0) for c in range(ord("a"), ord("z") + 1)]
    pieces += [(str(d), -4.0) for d in range(10)]
    pieces += [("\u2581" + word, -1.0) for word in PROMPT.split()]
    tokens = spec.transformer.get("max_text_seq_length", spec.recipe.max_tokens)
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=tokens)
    if spec.family == "wan":
        return tokenizer, UMT5EncoderModel(UMT5Config(vocab_size=len(pieces), **spec.text))
    return tokenizer, T5EncoderModel(T5Config(vocab_size=len(pieces), **spec.text))


def build_pipeline(spec: ModelSpec, directory: Path, device: torch.device) -> dict[str, Any]:
    """Build ``spec`` with random weights on ``device`` and save it as a pipeline in ``directory``.

    Returns:
        Its parameter counts, build and save seconds and size on disk.
    """
    import diffusers

    started = time.perf_counter()
    torch.manual_seed(0)
    wan = spec.family == "wan"
    names = (
        ("WanTransformer3DModel", "AutoencoderKLWan")
        if wan
        else ("CogVideoXTransformer3DModel", "AutoencoderKLCogVideoX")
    )
    with torch.device(device), default_dtype(spec.dtype), torch.no_grad():
        tokenizer, text_encoder = stand_in_text_parts(spec)
        transformer: Any = getattr(diffusers, names[0]).from_config(spec.transformer)
        # Wan's VAE runs in float32 whatever the transformer's precision (its recipe)
        with default_dtype(torch.float32 if wan else spec.dtype):
            vae: Any = getattr(diffusers, names[1]).from_config(spec.vae)
    if wan:
        scheduler: Any = wan_scheduler(spec.recipe.flow_shift)
        pipe: Any = diffusers.WanPipeline(  # type: ignore[no-untyped-call]
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            transformer=transformer,
            scheduler=scheduler,
            expand_timesteps=True,
        )
    else:
        scheduler_name = {"ddim": "CogVideoXDDIMScheduler", "dpm": "CogVideoXDPMScheduler"}
        scheduler = getattr(diffusers, scheduler_name[spec.recipe.scheduler])()
        pipe = diffusers.CogVideoXPipeline(  # type: ignore[no-untyped-call]
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            transformer=transformer,
            scheduler=scheduler,
        )
    sync(device)
    built = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(directory)
    # written last: its presence marks a complete directory that --models-dir may reuse
    overrides = {"model": spec.model.value, **spec.overrides}
    (directory / OVERRIDES_FILE).write_text(json.dumps(overrides, indent=2) + "\n")
    info = {
        "transformer_params": sum(p.numel() for p in transformer.parameters()),
        "vae_params": sum(p.numel() for p in vae.parameters()),
        "text_encoder_params": sum(p.numel() for p in text_encoder.parameters()),
        "build_s": built - started,
        "save_s": time.perf_counter() - built,
        "disk_gib": sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 2**30,
    }
    del pipe, transformer, vae, text_encoder
    release(device)
    return info


@contextmanager
def model_directory(spec: ModelSpec, keep_in: Path | None) -> Iterator[Path]:
    """Where ``spec``'s pipeline lives: under ``keep_in`` (kept), or a temporary folder (deleted)."""
    if keep_in is not None:
        yield keep_in / (f"{spec.key}-tiny" if spec.tiny else spec.key)
        return
    folder = Path(tempfile.mkdtemp(prefix=f"reelbot-bench-{spec.key}-"))
    try:
        yield folder / "pipeline"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------ timing


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Seconds one call of ``fn`` takes, synchronised on both sides, and what it returned."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory phase."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset_peak, in GiB (None on CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def allocated_gib(device: torch.device) -> float | None:
    """GPU memory allocated now, in GiB (None on CPU)."""
    return torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None


def release(device: torch.device) -> None:
    """Free a pipeline's memory and compiled graphs before the next one loads."""
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ one preset


def render_once(generator: Any, spec: ModelSpec, steps: int, device: torch.device) -> dict[str, Any]:
    """Time one ``Generator.render`` of a whole clip; the last step's end splits off the decode."""
    label = f"{spec.key} {generator.models[spec.model].speed.speed.preset}"
    marks: list[float] = []

    def on_step(done: int, total: int) -> None:
        sync(device)  # so the mark is when the step really ended on the GPU
        marks.append(time.perf_counter())
        if done % 10 == 0 or done == total:
            say(f"{label}: step {done}/{total} at {marks[-1] - start:.1f} s")

    job = GenerationSpec(prompt=PROMPT, model=spec.model, seed=0, steps=steps)
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    rendered = generator.render(job, None, on_step)
    sync(device)
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "until_last_step_s": marks[-1] - start,
        "decode_s": end - marks[-1],
        "peak_gib": peak_gib(device),
        "work": rendered.work,
        "speed": rendered.speed,
        "frames_shape": list(rendered.frames.shape),
    }


def measure(spec: ModelSpec, directory: Path, preset: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load ``directory`` as a worker with ``preset`` would, warm up, and render ``args.repeats`` clips.

    Raises:
        ModelLoadError: the worker refuses the preset on this hardware.
    """
    from inference.generator import Generator
    from inference.pipelines import load_models
    from inference.settings import WorkerSettings

    device = args.device
    settings = WorkerSettings(models=(str(directory),), device=device.type, speed=preset, count_work=True)
    load_s, models = timed(lambda: load_models(settings), device)
    generator = Generator(models)
    say(f"{spec.key} {preset}: loaded in {load_s:.1f} s ({models[spec.model].speed.speed.describe()})")
    loaded_gib = allocated_gib(device)
    warm_up_s, _ = timed(generator.warm_up, device)
    say(f"{spec.key} {preset}: warm-up {warm_up_s:.1f} s")
    renders = [render_once(generator, spec, args.steps, device) for _ in range(args.repeats)]
    last = renders[-1]
    peaks = [r["peak_gib"] for r in renders if r["peak_gib"] is not None]
    return {
        "status": "ok",
        "seconds": statistics.median(r["seconds"] for r in renders),
        "samples_s": [r["seconds"] for r in renders],
        "load_s": load_s,
        "loaded_gib": loaded_gib,
        "warm_up_s": warm_up_s,
        "peak_gib": max(peaks) if peaks else None,
        **{key: last[key] for key in ("until_last_step_s", "decode_s", "work", "speed", "frames_shape")},
    }


def run_preset(spec: ModelSpec, directory: Path, preset: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row of the table: ``measure``'s figures, or why the worker refused or failed."""
    from inference.generator import OutOfMemory
    from inference.pipelines import ModelLoadError

    row: dict[str, Any] = {"model": spec.key, "name": spec.recipe.model.value, "preset": preset}
    say(f"{spec.key} {preset}: loading through inference.pipelines.load_models")
    try:
        row |= measure(spec, directory, preset, args)
    except ModelLoadError as exc:
        row |= {"status": "refused", "message": str(exc)}
    except (OutOfMemory, torch.cuda.OutOfMemoryError) as exc:
        row |= {"status": "failed", "message": f"out of GPU memory: {exc}".splitlines()[0]}
    release(args.device)  # after measure's frame is gone, so its pipeline can be freed
    if row["status"] == "ok":
        say(
            f"{spec.key} {preset}: {row['seconds']:.1f} s per clip (decode {row['decode_s']:.1f} s), "
            f"peak {fmt(row['peak_gib'], 3)} GiB, work {fmt(row['work'], 3)}"
        )
    else:
        say(f"{spec.key} {preset}: {row['status']}: {row['message']}")
    return row


def bench_model(spec: ModelSpec, args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Build (or reuse) ``spec``'s pipeline and add one row per preset to ``report``."""
    recipe = spec.recipe
    model = {
        "model": spec.key,
        "name": spec.model.value,
        "dtype": str(spec.dtype).removeprefix("torch."),
        "video": {"frames": recipe.frames, "height": recipe.height, "width": recipe.width},
        "text_width": spec.text["d_model"],
    }
    report["models"].append(model)
    with model_directory(spec, args.models_dir) as directory:
        if (directory / OVERRIDES_FILE).is_file():
            say(f"{spec.key}: reusing {directory}")
            model["reused"] = str(directory)
        else:
            say(
                f"{spec.key}: building with random weights ({model['dtype']} on {args.device}) in {directory}"
            )
            model |= build_pipeline(spec, directory, args.device)
            say(f"{spec.key}: built in {model['build_s']:.1f} s, saved {model['disk_gib']:.2f} GiB")
        for preset in args.presets:
            report["runs"].append(run_preset(spec, directory, preset, args))
            add_ratios(report["runs"])
            write_json(args.json, report)


# ------------------------------------------------------------------------------ report


def add_ratios(runs: list[dict[str, Any]]) -> None:
    """Set each measured row's ``ratio_to_exact``: its seconds over its model's exact row (None without)."""
    exact = {r["model"]: r["seconds"] for r in runs if r["preset"] == "exact" and r["status"] == "ok"}
    for run in runs:
        base = exact.get(run["model"])
        run["ratio_to_exact"] = run["seconds"] / base if base and run["status"] == "ok" else None


def fmt(value: float | None, digits: int = 4) -> str:
    """A number to ``digits`` significant figures, or a dash where there is none."""
    return "-" if value is None else f"{value:.{digits}g}"


def fraction(value: float | None) -> str:
    """A ratio or share to two decimals, or a dash where there is none."""
    return "-" if value is None else f"{value:.2f}"


def seconds(value: float | None) -> str:
    """Seconds to a tenth (hundredths under 10 s), or a dash where there is none."""
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def header(report: dict[str, Any]) -> list[str]:
    """The lines above the table: where it ran and what a row covers."""
    env, settings = report["environment"], report["settings"]
    lines = [
        "## CogVideoX and Wan through Reelbot's render path: full-size architectures, random weights",
        "",
        f"Device: {env['device']} · torch {env['torch']} · diffusers {env['diffusers']} · CUDA {env['cuda']}",
        "",
    ]
    if report["tiny"]:
        lines += [
            "**TINY smoke configs on CPU, float32: these numbers only show that the code path runs.**",
            "",
        ]
    lines += [
        "- A row: `load_models` with `REELBOT_SPEED=<preset>`, `Generator.warm_up()` (the compile "
        "warm-up, timed apart; a later preset may reuse Inductor's on-disk cache), then "
        f"`Generator.render()` of {settings['steps']} steps, timed whole: prompt encoding, denoising "
        "with classifier-free guidance, VAE decode with tiling (as in "
        f"production), frames to uint8; median of {settings['repeats']} render(s).",
        "- Work: the share of transformer block forwards that ran (step caches skip some). Peak: the "
        "most GPU memory allocated during the render, weights included. VAE decode: from the last "
        "step's end to the frames.",
        "- " + NOTE_TEXT_ENCODER.format(width=text_width(report), steps=settings["steps"]),
    ]
    for model in report["models"]:
        video = model["video"]
        size = f", transformer {params(model['transformer_params'])}" if "transformer_params" in model else ""
        grid = f"{video['frames']} frames {video['height']}x{video['width']}"
        lines.append(f"- {model['name']}: {grid}, {model['dtype']}{size}")
    return [*lines, ""]


def text_width(report: dict[str, Any]) -> str:
    """The stand-in text encoders' output widths, for the note."""
    return "/".join(sorted({str(model["text_width"]) for model in report["models"]})) or "-"


def params(count: int) -> str:
    """A parameter count in millions or billions."""
    return f"{count / 1e9:.3g} B" if count >= 1e8 else f"{count / 1e6:.3g} M"


def measured_table(report: dict[str, Any]) -> list[str]:
    """One row per model and preset; a refused or failed one says why."""
    names = {model["model"]: model["name"] for model in report["models"]}
    lines = [
        "| model | preset | seconds per clip | ratio to exact | peak GPU memory (GiB) | work fraction "
        "| warm-up (s) | of which VAE decode (s) | levers |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        cells = [names.get(run["model"], run["model"]), run["preset"]]
        if run["status"] != "ok":
            message = run["message"].replace("|", "\\|")
            lines.append("| " + " | ".join([*cells, f"{run['status']}: {message}", *["-"] * 6]) + " |")
            continue
        cells += [seconds(run["seconds"]), fraction(run["ratio_to_exact"]), fmt(run["peak_gib"], 3)]
        cells += [fraction(run["work"]), seconds(run["warm_up_s"]), seconds(run["decode_s"]), run["speed"]]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def published_table() -> list[str]:
    """The published anchors, labelled as such."""
    lines = [
        "Published, for comparison (real weights, whole pipeline, 50 steps; not measured here):",
        "",
        "| model | setup | seconds (published) | source |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {p['model']} | {p['setup']} | ~{p['seconds']} | {p['source']} |" for p in PUBLISHED]
    return lines


def render(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    return "\n".join([*header(report), *measured_table(report), *published_table()])


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    """Write every figure so far (after each row, so a run cut short keeps what it measured)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def merged(paths: list[Path]) -> dict[str, Any]:
    """The reports of split runs as one (later files win for the same model and preset)."""
    reports = [json.loads(path.read_text()) for path in paths]
    models = {model["model"]: model for report in reports for model in report["models"]}
    runs = {(run["model"], run["preset"]): run for report in reports for run in report["runs"]}
    steps = sorted({report["settings"]["steps"] for report in reports})
    repeats = sorted({report["settings"]["repeats"] for report in reports})
    settings = {"steps": "/".join(map(str, steps)), "repeats": "/".join(map(str, repeats))}
    envs = sorted({report["environment"]["device"] for report in reports})
    environment = reports[0]["environment"] | {"device": " + ".join(envs)}
    rows = list(runs.values())
    add_ratios(rows)
    tiny = any(report["tiny"] for report in reports)
    return {"tiny": tiny, "environment": environment, "settings": settings} | {
        "models": list(models.values()),
        "runs": rows,
    }


# ------------------------------------------------------------------------------ command line


def listed(choices: tuple[str, ...] | list[str], what: str) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list drawn from ``choices``."""

    def parse(text: str) -> list[str]:
        keys = [key.strip() for key in text.split(",") if key.strip()]
        unknown = [key for key in keys if key not in choices]
        if unknown or not keys:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {unknown or text!r}; choose from {', '.join(choices)}"
            )
        return keys

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", type=listed(list(MODELS), "model"), default=list(MODELS), help="e.g. 5b or 2b,1.5-5b"
    )
    parser.add_argument(
        "--presets", type=listed(PRESETS, "preset"), default=list(PRESETS), help="e.g. exact,balanced"
    )
    parser.add_argument("--steps", type=int, default=50, help="denoising steps per clip (default 50)")
    parser.add_argument("--repeats", type=int, default=1, help="timed renders per preset (median reported)")
    parser.add_argument("--models-dir", type=Path, help="build into and reuse from this folder (kept)")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny configs, float32, seconds")
    parser.add_argument("--table", type=Path, nargs="+", help="print one table from earlier --json files")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= 200 or args.repeats < 1:
        parser.error("--steps must be 1 to 200 (as a job's steps), --repeats at least 1")
    return args


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and the device name, for the report's header."""
    import diffusers

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "device": name,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "cuda": torch.version.cuda,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code (2 when no GPU and not --tiny)."""
    args = parse_args(argv)
    if args.table:
        print(render(merged(args.table)))
        return 0
    if not args.tiny and not torch.cuda.is_available():
        print(
            "bench/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here. "
            "Run it on a GPU machine, or pass --tiny for a CPU smoke run of the same code path.",
            file=sys.stderr,
        )
        return 2
    args.device = torch.device("cpu" if args.tiny else "cuda")
    settings = {"steps": args.steps, "repeats": args.repeats, "models": args.models, "presets": args.presets}
    report: dict[str, Any] = {"tiny": args.tiny, "settings": settings, "models": [], "runs": []}
    report |= {"environment": environment(args.device), "published": PUBLISHED}
    quiet_progress_bars()
    for key in args.models:
        bench_model(tiny_spec(MODELS[key]) if args.tiny else MODELS[key], args, report)
    write_json(args.json, report)
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
