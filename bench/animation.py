"""What the GIF button and smoothing cost per clip: CPU time and output, for the two clip sizes
Reelbot makes.

    python bench/animation.py                 # 49x720x480 at 8 fps and 81x1360x768 at 16 fps
    python bench/animation.py --tiny          # a few seconds, for the smoke test

Each clip is made once (a drifting pattern with grain, encoded as the worker encodes: H.264,
crf 18), then :func:`inference.animation.clip_to_gif` turns it into a GIF under Discord's 10 MiB
and 8 MiB limits (and a tight 2 MiB one), as the GIF button does. CPU time is the process's
(``time.process_time``), median of ``--repeats``; the size, dimensions, frame rate and what was
reduced come from the result. Then :func:`inference.interpolate.smooth` takes each clip's
frames to 16 and 24 fps (where above the clip's own), as the worker does before it encodes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import statistics
import time
from typing import Any

import numpy as np

from inference.animation import clip_to_gif
from inference.interpolate import SMOOTH_FPS, smooth
from inference.video import encode_mp4

MiB = 2**20
CLIPS = {
    "49x720x480 @ 8 fps (2b, 5b)": (49, 720, 480, 8),
    "81x1360x768 @ 16 fps (1.5-5B)": (81, 1360, 768, 16),
}
LIMITS = (10 * MiB, 8 * MiB, 2 * MiB)


def make_clip(frames: int, width: int, height: int, fps: int) -> bytes:
    return encode_mp4(make_frames(frames, width, height), fps)


def make_frames(frames: int, width: int, height: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        luma = (
            (np.sin((x + 8 * t) / 40) + np.cos((y - 5 * t) / 30)) * 60
            + 128
            + rng.normal(0, 6, (height, width))
        )
        out.append((luma[..., None] * np.array([1.0, 0.8, 0.6])).clip(0, 255).astype(np.uint8))
    return np.stack(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="one small clip, one repeat")
    args = parser.parse_args(argv)
    clips = {"9x96x64 @ 8 fps (tiny)": (9, 96, 64, 8)} if args.tiny else CLIPS
    repeats = 1 if args.tiny else args.repeats
    print("| clip | MP4 size | limit | CPU s (median) | GIF size | GIF | reduced |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, shape in clips.items():
        mp4 = make_clip(*shape)
        for limit in LIMITS:
            times, result = [], None
            for _ in range(repeats):
                started = time.process_time()
                result = clip_to_gif(mp4, limit)
                times.append(time.process_time() - started)
            head = (
                f"| {name} | {len(mp4) / MiB:.2f} MiB | {limit / MiB:g} MiB | {statistics.median(times):.2f}"
            )
            if result is None:
                print(f"{head} | does not fit | | |", flush=True)
                continue
            print(
                f"{head} | {len(result.data) / MiB:.2f} MiB | {result.width}x{result.height}, "
                f"{result.fps:g} fps, {result.frames} frames | {', '.join(result.reduced) or 'nothing'} |",
                flush=True,
            )
    print()
    print("| clip | smoothed to | frames out | CPU s (median) |")
    print("| --- | --- | --- | --- |")
    for name, (count, width, height, fps) in clips.items():
        frames = make_frames(count, width, height)
        for target in (t for t in SMOOTH_FPS if t > fps):
            times, out = [], frames
            for _ in range(repeats):
                started = time.process_time()
                out = smooth(frames, fps, target)
                times.append(time.process_time() - started)
            print(f"| {name} | {target} fps | {len(out)} | {statistics.median(times):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
