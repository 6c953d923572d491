"""Extend: a clip continued from its own last frame, and the two joined into one clip.

The worker reads the earlier clip from storage and decodes it once; its last frame is the
image-to-video model's input image, and the continuation is rendered at the earlier clip's
frame size (and smoothed as any clip is). The image-to-video model's first frame reproduces
its input image, so the joined clip is the earlier clip's frames followed by the
continuation's from its second: ``n + m - 1`` frames, one frame rate, one size.

Decoding and joining are CPU-bound: the daemon runs them on threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from inference.video import DecodedClip, VideoError, decode_mp4

#: frame rates closer than this are one rate (an MP4 stores rates as fractions)
_FPS_TOLERANCE = 0.01


class ExtendError(Exception):
    """The clip cannot be extended; the message says why and what to do, for the member."""


@dataclass(frozen=True, slots=True)
class EarlierClip:
    """The clip a job continues, decoded."""

    #: its storage reference
    ref: str
    clip: DecodedClip

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``: the continuation's frame size."""
        return self.clip.width, self.clip.height

    @property
    def fps(self) -> float:
        return self.clip.fps

    @property
    def label(self) -> str:
        """What the joined MP4 names it by: its job id when its MP4 says, else its reference."""
        return self.clip.metadata.get("reelbot_job_id") or self.ref

    def last_frame(self) -> Image.Image:
        """The frame the continuation starts from."""
        return Image.fromarray(self.clip.frames[-1])


def read_earlier(data: bytes, ref: str) -> EarlierClip:
    """Decode the MP4 of the clip to extend.

    Raises:
        ExtendError: the stored clip cannot be decoded.
    """
    try:
        return EarlierClip(ref, decode_mp4(data))
    except VideoError as exc:
        raise ExtendError(f"the clip to extend could not be read ({exc}); extend another clip") from exc


def join(
    earlier: EarlierClip, frames: np.ndarray[Any, np.dtype[np.uint8]], fps: float
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The earlier clip's frames, then ``frames`` (the continuation at ``fps``) from the second on.

    Raises:
        ExtendError: the two clips differ in frame rate or frame size.
    """
    if abs(fps - earlier.fps) > _FPS_TOLERANCE:
        raise ExtendError(
            f"the clip to extend plays at {earlier.fps:g} fps but its continuation was made at "
            f"{fps:g} fps, so they cannot be joined; extend it with smoothing at {earlier.fps:g} fps, "
            "as the clip was made"
        )
    width, height = earlier.size
    if frames.shape[1:3] != (height, width):
        raise ExtendError(
            f"the clip to extend is {width}x{height} but its continuation came out "
            f"{frames.shape[2]}x{frames.shape[1]}, so they cannot be joined"
        )
    count = len(earlier.clip.frames)
    # filled in place: one copy of each frame, not a list stacked and then concatenated
    joined = np.empty((count + frames.shape[0] - 1, height, width, 3), np.uint8)
    for index, frame in enumerate(earlier.clip.frames):
        joined[index] = frame
    joined[count:] = frames[1:]
    return joined
