"""The quality gate for speed presets: what a preset costs in quality, and what work it saves.

    python bench/quality.py --model THUDM/CogVideoX-5b          # an operator's GPU box, real weights
    python bench/quality.py --model /models/CogVideoX-5b --presets exact,balanced,fast --seeds 3
    python bench/quality.py --tiny                              # CPU: tiny random model, seconds
    python bench/quality.py --mid --steps 20                    # CPU: 2 blocks at the real 5b width

Renders the same prompts and seeds with ``exact`` and with each other preset, through the
worker's own loader and renderer (:func:`inference.pipelines.load_models`,
:class:`inference.generator.Generator`, every model loaded with the preset's levers), and
reports per clip, against ``exact``: PSNR (dB, over all frames) and SSIM (mean over frames, on
luma, 7x7 windows), the wall time, and the work done (transformer units that ran, as counted
by the worker's work counter, as a fraction of ``exact``'s). LPIPS needs backbone weights
that are not available offline, so it is not computed.

Random weights make random-looking frames, so PSNR and SSIM on ``--tiny`` and ``--mid`` say
only that the plumbing works; the work fractions and wall times are real. With real weights
(``--model``, a Hub id or a directory saved with ``save_pretrained``), the figures are the
gate: a preset that keeps PSNR >= 30 dB and SSIM >= 0.9 against ``exact`` on your prompts may
be turned on. A preset the hardware cannot run is reported as refused, with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.contract import GenerationSpec, ModelId
from inference.generator import Generator
from inference.pipelines import ModelLoadError, load_models
from inference.settings import WorkerSettings

PROMPTS = (
    "a red kite over green hills at sunset",
    "waves rolling onto a rocky beach, slow motion",
    "a cat stretching on a sunny windowsill",
)
#: the gate a preset must pass on real weights before it may become a default
PSNR_GATE = 30.0
SSIM_GATE = 0.9


@dataclass
class Clip:
    prompt: str
    seed: int
    frames: np.ndarray[Any, Any]
    seconds: float
    work: float


def psnr(reference: np.ndarray[Any, Any], other: np.ndarray[Any, Any]) -> float:
    """Peak signal-to-noise ratio in dB over every frame (inf when identical)."""
    mse = float(np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(reference: np.ndarray[Any, Any], other: np.ndarray[Any, Any], window: int = 7) -> float:
    """Mean structural similarity over frames, on luma, with ``window`` x ``window`` uniform windows
    (the constants of Wang et al. 2004: K1 0.01, K2 0.03, range 255)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for a, b in zip(_luma(reference), _luma(other), strict=True):
        mean_a, mean_b = _box(a, window), _box(b, window)
        var_a = _box(a * a, window) - mean_a**2
        var_b = _box(b * b, window) - mean_b**2
        cov = _box(a * b, window) - mean_a * mean_b
        n = window * window
        var_a, var_b, cov = (x * n / (n - 1) for x in (var_a, var_b, cov))  # sample statistics
        index = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / (
            (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
        )
        scores.append(float(index.mean()))
    return statistics.fmean(scores)


def _luma(frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    rgb = frames.astype(np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114  # type: ignore[no-any-return]


def _box(image: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    """The mean over every ``window`` x ``window`` patch that fits (valid positions only)."""
    total = np.cumsum(np.cumsum(np.pad(image, ((1, 0), (1, 0))), axis=0), axis=1)
    patch = (
        total[window:, window:]
        - total[:-window, window:]
        - total[window:, :-window]
        + total[:-window, :-window]
    )
    return patch / (window * window)  # type: ignore[no-any-return]


def render_all(model_dir: str, preset: str, args: argparse.Namespace) -> list[Clip] | str:
    """Every prompt x seed with ``preset``; or the reason the worker refused it."""
    levers = dict(item.split("=", 1) for item in args.lever) if args.lever else {}
    settings = WorkerSettings(models=(model_dir,), speed=preset, count_work=True, **levers)
    try:
        models = load_models(settings)
    except ModelLoadError as exc:
        return str(exc)
    generator = Generator(models)
    generator.warm_up()
    model = next(iter(models))
    if model.image_to_video:
        raise SystemExit("bench/quality.py renders text-to-video models; give a T2V model")
    if not args.no_warm_up:  # one untimed render: the first call in a process pays for lazy set-up
        warm = GenerationSpec(prompt=PROMPTS[0], model=model, seed=99, steps=2)
        generator.render(warm, None, lambda done, total: None)
    clips = []
    for prompt in PROMPTS[: args.prompts]:
        for seed in range(args.seeds):
            spec = GenerationSpec(prompt=prompt, model=model, seed=seed, steps=args.steps)
            started = time.perf_counter()
            rendered = generator.render(spec, None, lambda done, total: None)
            seconds = time.perf_counter() - started
            clips.append(Clip(prompt, seed, rendered.frames, seconds, rendered.work or 1.0))
            print(f"  {preset}: {prompt[:30]!r} seed {seed}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return clips


def compare(exact: list[Clip], other: list[Clip]) -> dict[str, Any]:
    rows = []
    for ref, clip in zip(exact, other, strict=True):
        rows.append(
            {
                "prompt": clip.prompt,
                "seed": clip.seed,
                "psnr_db": psnr(ref.frames, clip.frames),
                "ssim": ssim(ref.frames, clip.frames),
                "seconds": clip.seconds,
                "work": clip.work / ref.work,
            }
        )
    return {
        "clips": rows,
        "psnr_db_median": statistics.median(r["psnr_db"] for r in rows),
        "ssim_median": statistics.median(r["ssim"] for r in rows),
        "seconds_median": statistics.median(r["seconds"] for r in rows),
        "time_ratio": statistics.median(c.seconds for c in other)
        / statistics.median(c.seconds for c in exact),
        "work_fraction": statistics.fmean(r["work"] for r in rows),
    }


def build_model(kind: str, root: Path) -> str:
    from inference.tiny import make_tiny_model

    if kind == "mid":  # two blocks at the real 5b width (48 heads x 64 = 3072)
        return str(make_tiny_model(root / "mid", ModelId.COGVIDEOX_5B, layers=2, heads=48, head_dim=64))
    return str(make_tiny_model(root / "tiny", ModelId.COGVIDEOX_5B, layers=4))


def fmt(value: float, digits: int = 2) -> str:
    return "identical" if math.isinf(value) else f"{value:.{digits}f}"


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Model: {report['model']}, {report['steps']} steps, {report['clips']} clips per preset "
        f"({report['prompts']} prompts x {report['seeds']} seeds)",
        "",
        "| preset | PSNR vs exact (median dB) | SSIM vs exact (median) | s per clip (median) "
        "| time vs exact | work vs exact | gate (PSNR >= 30, SSIM >= 0.9) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for preset, result in report["presets"].items():
        if "refused" in result:
            lines.append(f"| {preset} | refused: {result['refused']} | | | | | |")
            continue
        passed = result["psnr_db_median"] >= PSNR_GATE and result["ssim_median"] >= SSIM_GATE
        lines.append(
            f"| {preset} | {fmt(result['psnr_db_median'])} | {fmt(result['ssim_median'], 3)} "
            f"| {result['seconds_median']:.2f} | {result['time_ratio']:.2f} | {result['work_fraction']:.2f} "
            f"| {'passes' if passed else 'fails'} |"
        )
    if report["random_weights"]:
        lines += ["", "Random weights: PSNR and SSIM show the plumbing only; work and time are real."]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="a Hub id or a directory saved with save_pretrained (real weights)")
    source.add_argument("--tiny", action="store_true", help="a tiny random model (4 blocks), CPU seconds")
    source.add_argument("--mid", action="store_true", help="2 random blocks at the real 5b width, CPU")
    parser.add_argument(
        "--presets", default="exact,balanced,fast", help="comma-separated; exact is always run"
    )
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), choices=range(1, len(PROMPTS) + 1))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--lever", action="append", metavar="NAME=VALUE", help="a lever for every preset, e.g. attention=sdpa"
    )
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument(
        "--no-warm-up", action="store_true", help="skip the untimed render per preset (smoke tests)"
    )
    args = parser.parse_args(argv)
    if not (args.model or args.tiny or args.mid):
        parser.error("give --model (real weights), or --tiny / --mid for a random model on this machine")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    presets = ["exact", *(p for p in args.presets.split(",") if p and p != "exact")]
    with tempfile.TemporaryDirectory(prefix="reelbot-quality-") as tmp:
        model_dir = args.model or build_model("mid" if args.mid else "tiny", Path(tmp))
        report: dict[str, Any] = {
            "model": args.model or ("mid-size random (2 blocks, 5b width)" if args.mid else "tiny random"),
            "random_weights": not args.model,
            "steps": args.steps,
            "prompts": args.prompts,
            "seeds": args.seeds,
            "clips": args.prompts * args.seeds,
            "levers": args.lever or [],
            "presets": {},
        }
        exact = render_all(model_dir, "exact", args)
        if isinstance(exact, str):
            print(f"exact was refused: {exact}", file=sys.stderr)
            return 2
        for preset in presets:
            clips = exact if preset == "exact" else render_all(model_dir, preset, args)
            report["presets"][preset] = (
                {"refused": clips} if isinstance(clips, str) else compare(exact, clips)
            )
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # json cannot carry inf: identical clips are written as null PSNR
        args.json.write_text(json.dumps(report, indent=2, default=str).replace("Infinity", "null") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
