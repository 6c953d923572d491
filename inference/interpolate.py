"""Smoother motion: a clip's frames interpolated to a higher frame rate, with FFmpeg's
motion-compensated interpolation (``minterpolate``, through PyAV's own FFmpeg: no weights, no
download).

CogVideoX-2b and -5b render 8 frames a second, which reads as choppy; 16 or 24 fps is what members
compare it with. The interpolated clip spans the same time as the rendered one, from its first
frame to its last: ``n`` frames at ``fps`` become ``(n - 1) * target / fps + 1`` frames at
``target`` (rounded down where the ratio is not whole).

CPU-bound (about 7 s of CPU for a 49-frame 720x480 clip to 16 fps, 11 s to 24 fps on this
project's machine class): the worker runs it on a thread, after the render and before the encode.

Known limit: the filter repeats the first frame for the first in-between frames instead of
interpolating them (it has no earlier frame to estimate motion from), so a smoothed clip
starts with one held frame; every later interval is interpolated.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np

from inference.contract import SMOOTH_FPS

__all__ = ["SMOOTH_FPS", "smooth"]
#: motion-compensated interpolation with overlapped blocks, bidirectional motion estimation
_MINTERPOLATE = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def smooth(frames: np.ndarray[Any, Any], fps: float, target: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``frames`` (uint8 RGB, shaped frames x height x width x 3, at ``fps``) at ``target`` fps.

    Raises:
        ValueError: ``target`` is not above ``fps``, or there are fewer than two frames.
    """
    count, height, width, _ = frames.shape
    if target <= fps:
        raise ValueError(f"smoothing to {target} fps needs a clip below it, not at {fps:g} fps")
    if count < 2:
        raise ValueError("smoothing needs at least two frames")
    rate = Fraction(fps).limit_denominator(1000)
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=width, height=height, format=av.VideoFormat("yuv420p"), time_base=1 / rate
    )
    interpolate = graph.add("minterpolate", f"fps={target}:{_MINTERPOLATE}")
    sink = graph.add("buffersink")
    source.link_to(interpolate)
    interpolate.link_to(sink)
    graph.configure()
    wanted = int((count - 1) * target / rate) + 1
    out: list[np.ndarray[Any, Any]] = []

    def drain() -> None:
        while len(out) < wanted:
            try:
                pulled = sink.pull()
                assert isinstance(pulled, av.VideoFrame)  # a video graph gives video frames
                out.append(pulled.to_ndarray(format="rgb24"))
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    # the last frame goes in twice (one frame later), so the filter interpolates up to it
    for index, rgb in enumerate([*frames, frames[-1]]):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
            format="yuv420p"
        )
        frame.pts, frame.time_base = index, 1 / rate
        source.push(frame)
        drain()
    source.push(None)
    drain()
    while len(out) < wanted:  # the filter kept back its last frames: end on the clip's last
        out.append(np.asarray(frames[-1]))
    return np.stack(out[:wanted]).astype(np.uint8, copy=False)
