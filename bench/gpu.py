"""GPU benchmark of the full-size CogVideoX architectures, built with random weights (no download).

    python bench/gpu.py                           # 2b and 5b, eager and torch.compile, Markdown table
    python bench/gpu.py --models 5b --compile off --steps 10 --json bench/results/gpu.json
    python bench/gpu.py --tiny                    # CPU smoke run of the same code path, seconds

Per model it times one denoising step (a transformer forward at batch 2, as classifier-free
guidance runs it, on random latents of the model's real shape), the VAE decode of those
latents with tiling on (as in production), the peak GPU memory of each phase, and projects
a 50-step clip as 50 x step + decode. The T5-XXL text encoder is not built: the prompt
embeddings are random, since encoding one prompt is negligible next to 50 steps.

This file imports nothing from the Reelbot packages: copy it alone to a machine that has
torch, diffusers, transformers and accelerate.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/queue.py would then
# shadow the standard library's ``queue`` (which torch imports). Nothing here is needed from it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch

PROJECTED_STEPS = 50
GUIDANCE_SCALE = 6.0
TIMESTEP = 999  # any training timestep: the cost of a step does not depend on it
NOTE_TEXT_ENCODER = (
    "T5-XXL text encoder not built: prompt embeddings are random {shape}; "
    "encoding a prompt once is negligible next to 50 steps."
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


@dataclass(frozen=True)
class ModelSpec:
    """One model to benchmark: its configs, its recipe dtype and the clip it renders by default."""

    key: str
    name: str
    transformer: dict[str, Any]
    vae: dict[str, Any]
    dtype: torch.dtype
    frames: int
    height: int
    width: int


MODELS: dict[str, ModelSpec] = {
    "2b": ModelSpec("2b", "CogVideoX-2b", TRANSFORMER_2B, VAE_2B, torch.float16, 49, 480, 720),
    "5b": ModelSpec("5b", "CogVideoX-5b", TRANSFORMER_5B, VAE_5B, torch.bfloat16, 49, 480, 720),
    "1.5-5b": ModelSpec(
        "1.5-5b", "CogVideoX1.5-5b", TRANSFORMER_15_5B, VAE_15_5B, torch.bfloat16, 81, 768, 1360
    ),
}

# Published end-to-end figures (real weights, full pipeline, 50 steps); not measured here.
PUBLISHED: list[dict[str, Any]] = [
    {"model": "CogVideoX-5b", "setup": "1x H100, bf16, eager", "seconds": 112.4,
     "source": "sayakpaul/diffusers-torchao README, H100 table (bf16, fuse_qkv)"},
    {"model": "CogVideoX-5b", "setup": "1x H100, bf16, torch.compile", "seconds": 87.5,
     "source": "sayakpaul/diffusers-torchao README, H100 table (bf16, fuse_qkv)"},
    {"model": "CogVideoX-5b", "setup": "1x H100", "seconds": 90, "source": "THUDM/CogVideo README"},
    {"model": "CogVideoX-2b", "setup": "1x H100", "seconds": 45, "source": "THUDM/CogVideo README"},
    {"model": "CogVideoX1.5-5b", "setup": "1x H100, 81 frames 768x1360", "seconds": 550,
     "source": "THUDM/CogVideo README"},
]  # fmt: skip


def tiny_spec(spec: ModelSpec) -> ModelSpec:
    """The same model family shrunk to a few layers and an 8 x 8 x 3 latent, for a CPU smoke run."""
    transformer = {
        **spec.transformer,
        "num_layers": 2,
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "text_embed_dim": 32,
        "max_text_seq_length": 8,
        "time_embed_dim": 16,
        "sample_frames": 9,
        "sample_height": 8,
        "sample_width": 8,
    }
    vae = {**spec.vae, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1, "norm_num_groups": 4}
    # Tiles of 48 x 40 px (half the sample size), so the 64 x 64 px clip is decoded as 2 x 2 tiles that
    # add up to 64 x 64 exactly (smaller tiles leave the tiled decode a few pixels over).
    vae |= {"sample_height": 96, "sample_width": 80}
    return replace(spec, transformer=transformer, vae=vae, dtype=torch.float32, frames=9, height=64, width=64)


# ------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class Shapes:
    """The tensor shapes one generation of ``spec`` works on, as the diffusers pipeline derives them."""

    latent_frames: int  # what the transformer sees, padded to a multiple of patch_size_t
    padding: int  # leading padded frames, dropped before the decode
    height: int
    width: int
    channels: int
    text_tokens: int
    text_dim: int

    @classmethod
    def of(cls, spec: ModelSpec) -> Shapes:
        t = spec.transformer
        frames = (spec.frames - 1) // t["temporal_compression_ratio"] + 1
        patch_t = t.get("patch_size_t") or 1
        padding = -frames % patch_t
        spatial = 2 ** (len(spec.vae["block_out_channels"]) - 1)
        return cls(
            frames + padding,
            padding,
            spec.height // spatial,
            spec.width // spatial,
            t["in_channels"],
            t["max_text_seq_length"],
            t["text_embed_dim"],
        )

    def latents(self, batch: int) -> tuple[int, ...]:
        """Latents in the transformer's layout: (batch, frames, channels, height, width)."""
        return (batch, self.latent_frames, self.channels, self.height, self.width)


# ------------------------------------------------------------------------------ building


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Create new floating-point tensors in ``dtype`` for the duration of the block."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build(spec: ModelSpec, device: torch.device) -> tuple[Any, Any]:
    """Build the transformer and the VAE with random weights, allocated and initialised on ``device``.

    PyTorch's default initialisation (uniform, fan-in scaled) keeps activations bounded: the 2b in
    float16 gave finite outputs in a CPU check, and every run reports whether its output was finite.
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    with torch.device(device), default_dtype(spec.dtype):
        transformer = CogVideoXTransformer3DModel.from_config(spec.transformer)
        vae = AutoencoderKLCogVideoX.from_config(spec.vae)
    vae.enable_tiling()
    return transformer.eval(), vae.eval()


def rotary_embeddings(config: Any, shapes: Shapes, device: torch.device) -> Any:
    """The 3D rotary embeddings the pipeline computes once per clip, or None for the 2b (sin-cos)."""
    if not config.use_rotary_positional_embeddings:
        return None
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    p, p_t = config.patch_size, config.patch_size_t
    grid = (shapes.height // p, shapes.width // p)
    base_h, base_w = config.sample_height // p, config.sample_width // p
    if p_t is None:  # CogVideoX 1.0
        crops = get_resize_crop_region_for_grid(grid, base_w, base_h)
        return get_3d_rotary_pos_embed(
            config.attention_head_dim, crops, grid, shapes.latent_frames, device=device
        )
    return get_3d_rotary_pos_embed(  # CogVideoX 1.5
        config.attention_head_dim,
        None,
        grid,
        (shapes.latent_frames + p_t - 1) // p_t,
        grid_type="slice",
        max_size=(base_h, base_w),
        device=device,
    )


def step_inputs(spec: ModelSpec, config: Any, device: torch.device) -> dict[str, Any]:
    """Random inputs of one guided step: batch 2 (negative prompt, prompt), as the pipeline builds it."""
    shapes = Shapes.of(spec)
    generator = torch.Generator(device).manual_seed(0)
    options: dict[str, Any] = {"generator": generator, "device": device, "dtype": spec.dtype}
    return {
        "latents": torch.randn(shapes.latents(1), **options),
        "prompt_embeds": torch.randn(2, shapes.text_tokens, shapes.text_dim, **options),
        "timestep": torch.full((2,), TIMESTEP, device=device, dtype=torch.long),
        "image_rotary_emb": rotary_embeddings(config, shapes, device),
    }


def denoise_step(transformer: Callable[..., Any], inputs: dict[str, Any]) -> torch.Tensor:
    """One denoising step as the pipeline runs it: duplicate the latents, one forward, combine."""
    noise = transformer(
        hidden_states=torch.cat([inputs["latents"]] * 2),
        encoder_hidden_states=inputs["prompt_embeds"],
        timestep=inputs["timestep"],
        image_rotary_emb=inputs["image_rotary_emb"],
        return_dict=False,
    )[0].float()
    uncond, text = noise.chunk(2)
    guided: torch.Tensor = uncond + GUIDANCE_SCALE * (text - uncond)
    return guided


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


def is_finite(tensor: torch.Tensor) -> bool:
    """Whether the random model's output holds no NaN or inf (a fp16 overflow would show here)."""
    return bool(torch.isfinite(tensor).all())


def bench_steps(
    transformer: Callable[..., Any], inputs: dict[str, Any], args: argparse.Namespace, device: torch.device
) -> dict[str, Any]:
    """Median seconds per denoising step after ``args.warmup`` untimed steps, and their peak memory.

    The first call is timed apart (for a compiled transformer it is the compilation), and the peak
    is reset after it, so autotuning's scratch memory does not count as the step's.
    """
    first_s, out = timed(lambda: denoise_step(transformer, inputs), device)
    reset_peak(device)
    for _ in range(args.warmup):
        out = denoise_step(transformer, inputs)
    samples = [timed(lambda: denoise_step(transformer, inputs), device)[0] for _ in range(args.steps)]
    return {
        "step_s": statistics.median(samples),
        "step_samples_s": samples,
        "first_call_s": first_s,
        "peak_gib": peak_gib(device),
        "finite": is_finite(out),
    }


def bench_decode(vae: Any, spec: ModelSpec, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Median seconds of the VAE decode of one clip's latents, as the pipeline's decode_latents runs it."""
    shapes = Shapes.of(spec)
    generator = torch.Generator(device).manual_seed(1)
    latents = torch.randn(shapes.latents(1), generator=generator, device=device, dtype=spec.dtype)
    latents = latents[:, shapes.padding :].permute(0, 2, 1, 3, 4) / vae.config.scaling_factor

    def decode() -> torch.Tensor:
        video: torch.Tensor = vae.decode(latents).sample
        return video

    reset_peak(device)
    if args.warmup:
        decode()
    runs = [timed(decode, device) for _ in range(args.decode_repeats)]
    video = runs[-1][1]
    return {
        "seconds": statistics.median(seconds for seconds, _ in runs),
        "samples_s": [seconds for seconds, _ in runs],
        "tiling": bool(vae.use_tiling),
        "video_shape": list(video.shape),
        "peak_gib": peak_gib(device),
        "finite": is_finite(video),
    }


# ------------------------------------------------------------------------------ one model


def describe(spec: ModelSpec, transformer: Any, vae: Any) -> dict[str, Any]:
    """What was built: names, sizes and the shapes one step works on."""
    shapes = Shapes.of(spec)
    return {
        "model": spec.key,
        "name": spec.name,
        "dtype": str(spec.dtype).removeprefix("torch."),
        "video": {"frames": spec.frames, "height": spec.height, "width": spec.width},
        "transformer_input": list(shapes.latents(2)),
        "prompt_embeds": [2, shapes.text_tokens, shapes.text_dim],
        "transformer_params": sum(p.numel() for p in transformer.parameters()),
        "vae_params": sum(p.numel() for p in vae.parameters()),
    }


def bench_model(spec: ModelSpec, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Build one model and measure its steps (eager and/or compiled) and its VAE decode."""
    build_s, (transformer, vae) = timed(lambda: build(spec, device), device)
    result = describe(spec, transformer, vae) | {"build_s": build_s}
    result["weights_gib"] = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None
    inputs = step_inputs(spec, transformer.config, device)
    runs = []
    if args.compile in ("off", "both"):
        runs.append({"mode": "eager", **bench_steps(transformer, inputs, args, device)})
    if args.compile in ("on", "both"):
        compiled = torch.compile(transformer, mode=args.compile_mode)
        run = bench_steps(compiled, inputs, args, device)
        runs.append(
            {"mode": f"compiled ({args.compile_mode})", "compile_warmup_s": run["first_call_s"], **run}
        )
    result["decode"] = bench_decode(vae, spec, args, device)
    for run in runs:
        run["projected_total_s"] = PROJECTED_STEPS * run["step_s"] + result["decode"]["seconds"]
    result["runs"] = runs
    del transformer, vae, inputs
    release(device)
    return result


def release(device: torch.device) -> None:
    """Free one model's memory and compiled graphs before the next model is built."""
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------ report


def fmt(value: float | None, digits: int = 4) -> str:
    """A number to ``digits`` significant figures, or a dash where there is none."""
    return "-" if value is None else f"{value:.{digits}g}"


def header(report: dict[str, Any]) -> list[str]:
    """The lines above the table: where it ran, and what a step and the projection cover."""
    env, settings = report["environment"], report["settings"]
    lines = [
        "## CogVideoX GPU benchmark: full-size architectures, random weights",
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
        f"- Step: one transformer forward at batch 2 (classifier-free guidance) plus the guidance combine; "
        f"median of {settings['steps']} timed steps after {settings['warmup']} warm-up steps.",
        "- " + NOTE_TEXT_ENCODER.format(shape=tuple(report["models"][0]["prompt_embeds"])),
        f"- Projected = {PROJECTED_STEPS} x step + VAE decode (scheduler, text encoding and MP4 encoding "
        "not included). Compile warm-up is reported apart and not in the timed steps.",
    ]
    for model in report["models"]:
        video, decode = model["video"], model["decode"]
        lines.append(
            f"- {model['name']}: {video['frames']} frames {video['height']}x{video['width']} -> "
            f"transformer input {tuple(model['transformer_input'])}, VAE tiling "
            f"{'on' if decode['tiling'] else 'off'}, decoded video {tuple(decode['video_shape'])}"
        )
    return [*lines, ""]


def measured_table(report: dict[str, Any]) -> list[str]:
    """One row per model and transformer mode."""
    lines = [
        "| model | params | dtype | transformer | step (s) | compile warm-up (s) | step peak (GiB) "
        "| VAE decode (s) | decode peak (GiB) | projected 50 steps + decode (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in report["models"]:
        decode = model["decode"]
        params = model["transformer_params"]
        params = f"{params / 1e9:.3g} B" if params >= 1e8 else f"{params / 1e6:.3g} M"
        for run in model["runs"]:
            cells = [model["name"], params, model["dtype"], run["mode"], fmt(run["step_s"])]
            cells += [fmt(run.get("compile_warmup_s")), fmt(run["peak_gib"], 3), fmt(decode["seconds"])]
            cells += [fmt(decode["peak_gib"], 3), fmt(run["projected_total_s"])]
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def published_table() -> list[str]:
    """The published anchors, labelled as such."""
    lines = [
        "Published, for comparison (real weights, whole pipeline, 50 steps; not measured here):",
        "",
        "| model | setup | seconds | source |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {p['model']} | {p['setup']} | ~{p['seconds']} | {p['source']} |" for p in PUBLISHED]
    return lines


def render(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    return "\n".join([*header(report), *measured_table(report), *published_table()])


# ------------------------------------------------------------------------------ command line


def model_list(text: str) -> list[str]:
    """Parse ``--models``: comma-separated keys of MODELS."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in MODELS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown model {unknown or text!r}; choose from {', '.join(MODELS)}"
        )
    return keys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line; --compile defaults to 'both' on a GPU and 'off' with --tiny."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=model_list, default=["2b", "5b"], help="e.g. 2b,5b or 1.5-5b")
    parser.add_argument("--steps", "--repeats", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before timing (and 1 decode)")
    parser.add_argument("--decode-repeats", type=int, default=1, help="timed VAE decodes (median reported)")
    parser.add_argument(
        "--compile",
        choices=["off", "on", "both"],
        help="torch.compile the transformer (default: both; off with --tiny)",
    )
    parser.add_argument(
        "--compile-mode",
        default="max-autotune-no-cudagraphs",
        choices=["max-autotune-no-cudagraphs", "default"],
    )
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny configs, float32, seconds")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.decode_repeats < 1:
        parser.error("--steps and --decode-repeats must be at least 1, --warmup at least 0")
    args.compile = args.compile or ("off" if args.tiny else "both")
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
    if not args.tiny and not torch.cuda.is_available():
        print(
            "bench/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here. "
            "Run it on a GPU machine, or pass --tiny for a CPU smoke run of the same code path.",
            file=sys.stderr,
        )
        return 2
    device = torch.device("cpu" if args.tiny else "cuda")
    specs = [tiny_spec(MODELS[key]) if args.tiny else MODELS[key] for key in args.models]
    # Import diffusers' models before any clock starts, so the first build time is the build's alone.
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel  # noqa: F401

    with torch.inference_mode():
        models = [bench_model(spec, args, device) for spec in specs]
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "models")}
    report = {"tiny": args.tiny, "environment": environment(device), "settings": settings, "models": models}
    report |= {"text_encoder": "not built", "published": PUBLISHED, "projected_steps": PROJECTED_STEPS}
    print(render(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
