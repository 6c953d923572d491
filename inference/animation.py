"""An animated GIF of a clip that fits an upload limit, so Discord plays it inline without a click.

A GIF is made of palette frames (at most 256 colours each) and compresses poorly, so a clip is
made smaller until it fits: first its width (480 px wide at most, then three quarters at a
time, down to 160), then its frame rate (every second frame, down to 4 fps). What was reduced
is reported, so the member can be told. Standard GIF timing is in hundredths of a second;
the frame duration is rounded to it.

Used by the bot (its GIF button) and by ``bench/animation.py``; CPU-bound, so callers run it
on a thread.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import av
from PIL import Image

from inference.video import VideoError

#: the widest GIF made: wider ones are large and Discord shows them scaled down anyway
MAX_WIDTH = 480
MIN_WIDTH = 160
MIN_FPS = 4.0


@dataclass(frozen=True, slots=True)
class Animation:
    """A GIF made from a clip, and how it differs from the clip."""

    data: bytes
    width: int
    height: int
    fps: float
    frames: int
    #: what was reduced to fit, in words ("480 px wide (from 720)", "4 fps (from 8)")
    reduced: tuple[str, ...]


def clip_to_gif(mp4: bytes, max_bytes: int) -> Animation | None:
    """The largest GIF of ``mp4`` that fits ``max_bytes``, or None when even the smallest does not.

    Raises:
        VideoError: ``mp4`` cannot be decoded.
    """
    # frames are scaled while they are decoded: an 81-frame 1360x768 clip would take 250 MB
    # of RGB at full size, 30 MB at 480 px wide
    frames, fps, width, height = _decode(mp4, MAX_WIDTH)
    for gif_width in _widths(width):
        gif_height = max(2, round(height * gif_width / width))
        resized = [f.resize((gif_width, gif_height), Image.Resampling.LANCZOS) for f in frames]
        for step in _steps(fps):
            kept = resized[::step]
            data = _encode(kept, fps / step)
            if len(data) <= max_bytes:
                reduced = []
                if gif_width != width:
                    reduced.append(f"{gif_width} px wide (from {width})")
                if step > 1:
                    reduced.append(f"{fps / step:g} fps (from {fps:g})")
                return Animation(data, gif_width, gif_height, fps / step, len(kept), tuple(reduced))
    return None


def _decode(mp4: bytes, max_width: int) -> tuple[list[Image.Image], float, int, int]:
    """The clip's frames at most ``max_width`` wide, its frame rate, and its own width and height."""
    try:
        with av.open(io.BytesIO(mp4), mode="r") as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            scaled_width = min(width, max_width)
            scaled_height = max(2, round(height * scaled_width / width)) if width else height
            frames = [
                frame.to_image(width=scaled_width, height=scaled_height)  # type: ignore[no-untyped-call]
                for frame in container.decode(stream)
            ]
    except (av.error.FFmpegError, IndexError, ZeroDivisionError) as exc:
        raise VideoError(f"the clip cannot be decoded: {exc}") from exc
    if not frames:
        raise VideoError("the clip has no frames")
    return frames, float(rate) if rate else 8.0, width, height


def _widths(width: int) -> Iterator[int]:
    current = min(width, MAX_WIDTH)
    while True:
        yield current - current % 2
        if current <= MIN_WIDTH:
            return
        current = max(MIN_WIDTH, int(current * 0.75))


def _steps(fps: float) -> Iterator[int]:
    step = 1
    while True:
        yield step
        step *= 2
        if fps / step < MIN_FPS:
            return


def _encode(frames: list[Image.Image], fps: float) -> bytes:
    # one palette per frame, chosen from that frame (median cut); dithering off keeps the
    # frames stable, so unchanged areas compress between frames
    paletted = [
        f.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for f in frames
    ]
    out = io.BytesIO()
    duration = max(20, round(1000 / fps / 10) * 10)  # GIF timing is in hundredths of a second
    paletted[0].save(
        out, format="GIF", save_all=True, append_images=paletted[1:], duration=duration, loop=0, optimize=True
    )
    return out.getvalue()
