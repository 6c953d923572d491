"""Fitting a clip into an upload limit: real libx264 through PyAV, checked by decoding the result."""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import pytest

from inference.video import VideoError, encode_mp4, fit_mp4, probe_mp4

MIB = 1024 * 1024
TAGS = {"title": "a bee on a flower", "reelbot_job_id": "j0b1d2", "reelbot_seed": "42"}


def busy_clip(
    count: int, height: int, width: int
) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], np.ndarray[Any, Any]]:
    """Moving colour gradients under heavy grain (compresses badly), and the grain-free picture."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    clean = np.empty((count, height, width, 3), np.int16)
    for t in range(count):
        clean[t] = np.stack([(x + 4 * t) % 256, (y + 2 * t) % 256, ((x + y) // 2 + 3 * t) % 256], axis=-1)
    noisy = np.clip(clean + rng.integers(-72, 73, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


def decode_rgb(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    with av.open(io.BytesIO(data), "r") as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def cogvideox_clip() -> tuple[bytes, np.ndarray[Any, Any]]:
    """What CogVideoX-5B makes (49 frames of 720x480 at 8 fps), grainy enough to be over 10 MiB."""
    noisy, clean = busy_clip(49, 480, 720)
    data = encode_mp4(noisy, 8, metadata=TAGS)
    assert len(data) > 10 * MIB, len(data) / MIB
    return data, clean


@pytest.mark.parametrize("limit", [2 * MIB, 5 * MIB])
def test_a_big_clip_is_fitted_keeping_frames_rate_and_tags(
    cogvideox_clip: tuple[bytes, np.ndarray[Any, Any]], limit: int
) -> None:
    data, clean = cogvideox_clip

    fitted = fit_mp4(data, limit)

    assert fitted is not None and len(fitted) <= limit
    assert len(fitted) > 0.8 * limit  # the budget is used, not thrown away
    info = probe_mp4(fitted)
    assert (info.frames, info.fps, info.width, info.height) == (49, 8.0, 720, 480)
    assert (info.codec, info.pix_fmt, info.faststart) == ("h264", "yuv420p", True)
    assert TAGS.items() <= info.metadata.items()
    # still the same picture: the gradients survive (the encoder mostly drops the grain)
    error = np.abs(decode_rgb(fitted).astype(int) - clean).mean()
    assert error < 40, f"mean error {error:.1f} per channel against the grain-free picture"


def test_a_tight_limit_shrinks_the_picture_keeping_its_aspect(
    cogvideox_clip: tuple[bytes, np.ndarray[Any, Any]],
) -> None:
    data, _ = cogvideox_clip

    fitted = fit_mp4(data, 100 * 1024)

    assert fitted is not None and len(fitted) <= 100 * 1024
    info = probe_mp4(fitted)
    assert (info.frames, info.fps) == (49, 8.0)
    assert info.height < 480 and info.width % 2 == 0 and info.height % 2 == 0
    assert info.width / info.height == pytest.approx(720 / 480, rel=0.01)


def test_fitting_is_deterministic(cogvideox_clip: tuple[bytes, np.ndarray[Any, Any]]) -> None:
    data, _ = cogvideox_clip
    assert fit_mp4(data, MIB) == fit_mp4(data, MIB)


def test_a_clip_that_fits_is_returned_unchanged() -> None:
    data = encode_mp4(busy_clip(9, 48, 80)[0], 8)
    assert fit_mp4(data, len(data)) is data


def test_an_impossible_limit_gives_none(cogvideox_clip: tuple[bytes, np.ndarray[Any, Any]]) -> None:
    data, _ = cogvideox_clip
    assert fit_mp4(data, 20_000) is None
    assert fit_mp4(data, 1000) is None  # less than the container's own boxes


@pytest.mark.parametrize(
    ("data", "limit", "min_height", "message"),
    [
        (b"not an mp4 at all" * 10, 10, 240, "not a decodable MP4"),
        (b"x" * 100, 0, 240, "cannot fit a clip into 0 bytes"),
        (b"x" * 100, 10, 1, "minimum height of at least 2"),
    ],
)
def test_bad_input_raises_video_error(data: bytes, limit: int, min_height: int, message: str) -> None:
    with pytest.raises(VideoError, match=message):
        fit_mp4(data, limit, min_height=min_height)
