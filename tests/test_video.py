"""MP4 encoding and probing: real libx264 through PyAV, checked by decoding what it wrote."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from inference.video import VideoError, encode_mp4, probe_mp4

BACKGROUND = (20, 40, 90)
SQUARE = (240, 220, 40)


def moving_square(count: int, height: int, width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A dark clip with a bright square that moves right by a few pixels each frame."""
    frames = np.empty((count, height, width, 3), np.uint8)
    frames[:] = BACKGROUND
    side = max(8, height // 4)
    for t in range(count):
        left = (4 + 3 * t) % (width - side)
        frames[t, height // 4 : height // 4 + side, left : left + side] = SQUARE
    return frames


def decode_rgb(data: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    with av.open(io.BytesIO(data), "r") as container:
        return np.stack(
            [np.asarray(frame.to_ndarray(format="rgb24"), np.uint8) for frame in container.decode(video=0)]
        )


def test_a_small_clip_round_trips_with_its_metadata() -> None:
    tags = {
        "title": "a bee on a flower",
        "comment": "made by Reelbot",
        "reelbot_job_id": "j0b1d2",
        "reelbot_model": "cogvideox-2b",
        "reelbot_seed": "42",
    }
    data = encode_mp4(moving_square(9, 48, 80), 8, metadata=tags)

    info = probe_mp4(data)

    assert (info.frames, info.width, info.height) == (9, 80, 48)
    assert info.fps == 8.0
    assert info.duration == pytest.approx(9 / 8, abs=0.01)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.faststart is True
    assert info.size_bytes == len(data)
    assert tags.items() <= info.metadata.items()


def test_a_cogvideox_sized_clip_has_every_frame() -> None:
    data = encode_mp4(moving_square(49, 480, 720), 8)

    info = probe_mp4(data)

    assert (info.frames, info.width, info.height, info.fps) == (49, 720, 480, 8.0)
    assert info.duration == pytest.approx(49 / 8, abs=0.01)
    assert info.faststart is True


def test_decoded_frames_look_like_the_input() -> None:
    frames = moving_square(9, 48, 80)

    decoded = decode_rgb(encode_mp4(frames, 8))

    assert decoded.shape == frames.shape
    error = np.abs(decoded.astype(int) - frames.astype(int))
    assert error.mean() < 4, f"mean error {error.mean():.1f} per channel"
    # away from its edges (where 4:2:0 chroma blurs), the square keeps its colour, and so
    # does the background
    square = (frames == SQUARE).all(axis=-1)
    inside = square[:, 2:-2, 2:-2] & square[:, :-4, :-4] & square[:, 4:, 4:]
    assert np.abs(decoded[:, 2:-2, 2:-2][inside].mean(axis=0) - SQUARE).max() < 6
    assert np.abs(decoded[:, -4:].reshape(-1, 3).mean(axis=0) - BACKGROUND).max() < 6

    # the square moves with the input: compare its left edge, frame by frame
    def left_edges(clip: np.ndarray[Any, np.dtype[np.uint8]]) -> list[int]:
        bright = clip[:, 18].astype(int).sum(axis=-1) > sum(SQUARE) // 2
        return [int(row.argmax()) for row in bright]

    assert left_edges(decoded) == left_edges(frames) == [4 + 3 * t for t in range(9)]


def test_float_frames_are_clipped_and_scaled() -> None:
    frames = np.full((3, 32, 32, 3), 0.5, np.float32)
    frames[:, :, :16] = 1.7  # above 1: clipped to white
    frames[:, :16, 16:] = -0.3  # below 0: clipped to black

    decoded = decode_rgb(encode_mp4(frames, 8))

    assert abs(decoded[:, 4:12, 4:12].mean() - 255) < 4
    assert abs(decoded[:, 4:12, 20:28].mean() - 0) < 4
    assert abs(decoded[:, 20:28, 20:28].mean() - 128) < 4


def test_an_odd_size_is_padded_by_repeating_the_edge() -> None:
    frames = np.zeros((3, 47, 81, 3), np.uint8)
    frames[:, :, -8:] = (255, 0, 0)  # a red right edge
    frames[:, -8:, :-8] = (0, 255, 0)  # a green bottom edge

    data = encode_mp4(frames, 8)
    info, decoded = probe_mp4(data), decode_rgb(data)

    assert (info.width, info.height) == (82, 48)
    assert np.abs(decoded[:, 10:30, -1].astype(int) - (255, 0, 0)).mean() < 12
    assert np.abs(decoded[:, -1, 10:60].astype(int) - (0, 255, 0)).mean() < 12


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((9, 48, 80), np.uint8), r"shape \(9, 48, 80\)"),
        (np.zeros((9, 48, 80, 4), np.uint8), r"expected \(frames, height, width, 3\)"),
        (np.zeros((0, 48, 80, 3), np.uint8), "at least one frame"),
        (np.zeros((9, 48, 80, 3), np.int16), "dtype int16"),
        ([[[[0, 0, 0]]]], "numpy array"),
    ],
)
def test_bad_frames_are_refused_with_the_reason(frames: Any, message: str) -> None:
    with pytest.raises(VideoError, match=message):
        encode_mp4(frames, 8)


def test_broken_pipeline_output_is_refused() -> None:
    frames = np.zeros((2, 16, 16, 3), np.float16)
    frames[1, 3, 3, 0] = np.nan
    with pytest.raises(VideoError, match="NaN"):
        encode_mp4(frames, 8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fps": 0}, "fps 0"),
        ({"fps": 8.5}, "fps 8.5"),
        ({"crf": 60}, "crf 60"),
        ({"preset": "turbo"}, "not an x264 preset"),
        ({"metadata": {"bad key": "x"}}, "metadata key 'bad key'"),
        ({"metadata": {"reelbot_seed": 42}}, "must be a string"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"fps": 8} | options
    with pytest.raises(VideoError, match=message):
        encode_mp4(moving_square(2, 16, 16), **arguments)


def test_faststart_is_read_from_the_file_not_assumed(tmp_path: Path) -> None:
    # a file written without +faststart keeps 'moov' after 'mdat'
    path = tmp_path / "slow.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for image in moving_square(3, 16, 16):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))

    info = probe_mp4(path.read_bytes())

    assert info.frames == 3
    assert info.faststart is False


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: os.urandom(4096), id="random"),
        pytest.param(lambda data: b"not an mp4 at all" * 10, id="text"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-300] + bytes(300), id="zeroed-tail"),
    ],
)
def test_corrupt_bytes_raise_video_error(damage: Any) -> None:
    data = encode_mp4(moving_square(9, 48, 80), 8)
    with pytest.raises(VideoError):
        probe_mp4(damage(data))
