"""MP4 encoding and probing with PyAV (whose wheels ship FFmpeg with libx264).

:func:`encode_mp4` turns the frames a pipeline returns into an H.264 MP4 that Discord plays
inline; :func:`probe_mp4` decodes an MP4 and reports what is really in it, for tests and for
checking a clip before it is delivered; :func:`decode_mp4` gives back its RGB frames (the
worker continues a clip from them, Extend).

Two FFmpeg details shape this module:

* ``+faststart`` moves the ``moov`` box in front of ``mdat`` after the whole file is written,
  by reopening the output *by file name*. An in-memory output has no name, so that step fails
  with ENOENT; the encoder therefore writes to a private temporary file and reads it back.
* The MP4 muxer keeps only the tags it has an iTunes atom for (``title``, ``comment``, ...)
  unless ``+use_metadata_tags`` is set; with it, every tag is stored as an ``mdta`` key, so
  Reelbot's own keys (``reelbot_job_id``, ...) survive the round trip.
"""

from __future__ import annotations

import io
import re
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

X264_PRESETS: Final = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
MAX_FPS: Final = 240
_MOVFLAGS: Final = "+faststart+use_metadata_tags"
_METADATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What an MP4 holds, as read by decoding it."""

    frames: int  # frames actually decoded, not the container's count
    width: int
    height: int
    fps: float
    duration: float  # seconds
    codec: str  # FFmpeg's codec name, e.g. "h264"
    pix_fmt: str
    size_bytes: int
    #: the ``moov`` box comes before ``mdat``: players start before the whole file arrives
    faststart: bool
    #: container-level tags, including the ones FFmpeg adds (``major_brand``, ``encoder``, ...)
    metadata: dict[str, str]


class VideoError(Exception):
    """Frames cannot be encoded, or bytes cannot be decoded; the message says why."""


# -------------------------------------------------------------------------- encoding


def encode_mp4(
    frames: np.ndarray[Any, np.dtype[Any]],
    fps: int,
    *,
    metadata: Mapping[str, str] | None = None,
    crf: int = 18,
    preset: str = "medium",
) -> bytes:
    """Encode RGB frames as an H.264 (yuv420p, BT.709) MP4 with ``+faststart``.

    The frame rate is constant. yuv420p needs an even width and height, so an odd one is
    padded by one row or column that repeats the edge pixels. Runs synchronously and
    CPU-bound: call it from a thread in async code.

    Args:
        frames: ``(T, H, W, 3)`` RGB, either ``uint8`` or floating point in ``[0, 1]``
            (what diffusers returns with ``output_type="np"``; values outside are clipped).
        fps: frames per second, 1 to 240.
        metadata: container tags to write, e.g. ``{"title": ..., "reelbot_job_id": ...}``.
            Keys are 1-64 letters, digits, ``_ . -`` starting with a letter.
        crf: x264 quality, 0 (lossless) to 51 (worst); 18 is visually transparent.
        preset: x264 speed preset, one of :data:`X264_PRESETS`.

    Returns:
        The MP4 file's bytes.

    Raises:
        VideoError: the frames or an option are invalid, or FFmpeg failed.
    """
    rgb = _as_rgb_uint8(frames)
    tags = _check_options(fps, metadata, crf, preset)
    # faststart reopens the output by name (see the module docstring), so no BytesIO here
    try:
        with tempfile.TemporaryDirectory(prefix="reelbot-mp4-") as tmp:
            path = Path(tmp) / "clip.mp4"
            _write_mp4(path, rgb, fps, tags, crf, preset)
            return path.read_bytes()
    except av.FFmpegError as exc:
        raise VideoError(f"FFmpeg could not encode the clip: {exc}") from exc
    except OSError as exc:
        raise _temp_file_error(exc) from exc


def _temp_file_error(exc: OSError) -> VideoError:
    return VideoError(
        f"cannot write the temporary MP4 in {tempfile.gettempdir()}: {exc}. "
        "Point TMPDIR at a writable directory with space for one clip."
    )


def _as_rgb_uint8(frames: object) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Validate ``(T, H, W, 3)`` RGB frames and return them as uint8 with even H and W."""
    if not isinstance(frames, np.ndarray):
        raise VideoError(f"frames must be a numpy array, not {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise VideoError(
            f"frames have shape {frames.shape}; expected (frames, height, width, 3) RGB. "
            "For one clip from a diffusers pipeline, pass output.frames[0]."
        )
    count, height, width, _ = frames.shape
    if count == 0 or height == 0 or width == 0:
        raise VideoError(f"frames have shape {frames.shape}: need at least one frame of at least 1x1 pixels")
    if frames.dtype == np.uint8:
        rgb = frames
    elif np.issubdtype(frames.dtype, np.floating):
        if not np.isfinite(frames).all():
            raise VideoError(
                "frames contain NaN or infinity, so the pipeline's output is broken "
                "(often a float16 VAE overflow): decode in float32 or bfloat16"
            )
        rgb = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise VideoError(f"frames have dtype {frames.dtype}; pass uint8 (0-255) or float (0-1)")
    if height % 2 or width % 2:
        rgb = np.pad(rgb, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    return rgb


def _check_options(fps: int, metadata: Mapping[str, str] | None, crf: int, preset: str) -> dict[str, str]:
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= MAX_FPS:
        raise VideoError(f"fps {fps!r} is invalid: use a whole number from 1 to {MAX_FPS}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise VideoError(f"crf {crf!r} is invalid: use a whole number from 0 to 51 (18 is the default)")
    if preset not in X264_PRESETS:
        raise VideoError(f"preset {preset!r} is not an x264 preset: use one of {', '.join(X264_PRESETS)}")
    tags = dict(metadata or {})
    for key, value in tags.items():
        if not isinstance(key, str) or not _METADATA_KEY.match(key):
            raise VideoError(
                f"metadata key {key!r} is invalid: use 1-64 letters, digits, _ . - starting with a letter"
            )
        if not isinstance(value, str) or "\0" in value:
            raise VideoError(f"metadata {key!r} must be a string without NUL characters, not {value!r}")
    return tags


def _write_mp4(
    path: Path,
    rgb: np.ndarray[Any, np.dtype[np.uint8]],
    fps: int,
    tags: dict[str, str],
    crf: int,
    preset: str,
) -> None:
    _, height, width, _ = rgb.shape
    rate = Fraction(fps, 1)
    with av.open(str(path), "w", format="mp4", options={"movflags": _MOVFLAGS}) as container:
        container.metadata.update(tags)
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Tag BT.709 and convert with its matrix, so that browsers (which guess when a clip
        # is untagged, differently for SD and HD) show the colours the model produced.
        context = stream.codec_context
        context.colorspace, context.color_range = Colorspace.ITU709, ColorRange.MPEG
        context.color_primaries, context.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        context.time_base = 1 / rate
        for index, frame in enumerate(_yuv_frames(rgb)):
            frame.pts, frame.time_base = index, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _yuv_frames(rgb: np.ndarray[Any, np.dtype[np.uint8]]) -> Iterator[av.VideoFrame]:
    for image in rgb:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        yield frame.reformat(
            format="yuv420p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            dst_color_trc=ColorTrc.BT709,
            dst_color_primaries=ColorPrimaries.BT709,
        )


# --------------------------------------------------------------------------- probing


def probe_mp4(data: bytes) -> VideoInfo:
    """Decode an MP4 and describe its first video stream.

    Args:
        data: the file's bytes.

    Returns:
        The decoded frame count, picture size, rate, codec, tags and box layout.

    Raises:
        VideoError: the bytes are not a decodable MP4 with a video stream.
    """
    try:
        with av.open(io.BytesIO(data), "r", format="mp4") as container:
            if not container.streams.video:
                raise VideoError("the MP4 has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = sum(1 for _ in container.decode(stream))
            context = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            info = VideoInfo(
                frames=frames,
                width=context.width,
                height=context.height,
                fps=float(rate or 0),
                duration=duration,
                codec=context.name,
                pix_fmt=context.pix_fmt or "",
                size_bytes=len(data),
                faststart=_moov_before_mdat(data),
                metadata=dict(container.metadata),
            )
    except av.FFmpegError as exc:
        raise VideoError(f"the data is not a decodable MP4 ({len(data)} bytes): {exc}") from exc
    if info.frames == 0:
        raise VideoError("the MP4 has a video stream but no frame in it decodes")
    return info


@dataclass(frozen=True, slots=True)
class DecodedClip:
    """An MP4's frames as RGB, with its frame rate and tags."""

    #: uint8 RGB, one (height, width, 3) array per frame
    frames: list[np.ndarray[Any, np.dtype[np.uint8]]]
    fps: float
    metadata: dict[str, str]

    @property
    def width(self) -> int:
        return int(self.frames[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frames[0].shape[0])


def decode_mp4(data: bytes) -> DecodedClip:
    """Decode every frame of an MP4's first video stream as RGB.

    The frames stay one array each, so that a caller joining them to others copies them once.
    Colours are converted with the matrix the stream is tagged with (BT.709 for Reelbot's own
    clips, see :func:`encode_mp4`). Runs synchronously and CPU-bound: call it from a thread.

    Raises:
        VideoError: the bytes are not a decodable MP4 with a video stream, a frame and a rate.
    """
    try:
        with av.open(io.BytesIO(data), "r", format="mp4") as container:
            if not container.streams.video:
                raise VideoError("the MP4 has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            # rgb24 is uint8 (PyAV's stubs give every format's dtype)
            frames: list[np.ndarray[Any, np.dtype[np.uint8]]] = [
                frame.to_ndarray(format="rgb24")  # type: ignore[misc]
                for frame in container.decode(stream)
            ]
            metadata = dict(container.metadata)
    except av.FFmpegError as exc:
        raise VideoError(f"the data is not a decodable MP4 ({len(data)} bytes): {exc}") from exc
    if not frames or not rate:
        raise VideoError(
            f"the MP4 ({len(data)} bytes) has {len(frames)} decodable frames at rate {rate}; "
            "it needs at least one frame and a known frame rate"
        )
    return DecodedClip(frames, float(rate), metadata)


def _moov_before_mdat(data: bytes) -> bool:
    """Whether the top-level ``moov`` box comes before the first ``mdat`` box."""
    for box in _top_level_boxes(data):
        if box in (b"moov", b"mdat"):
            return box == b"moov"
    return False


def _top_level_boxes(data: bytes) -> Iterator[bytes]:
    """Yield the type of each top-level ISO BMFF box, stopping at the first malformed header."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if offset + 16 > len(data):
                return
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - offset
        if size < header:
            return
        yield kind
        offset += size


# ------------------------------------------------------------------ fitting a size limit

#: the share of the limit the first bitrate aims at: x264's two-pass rate control misses by up to ~3%
_FIT_MARGIN: Final = 0.92
#: MP4 boxes around the H.264 stream: a fixed part plus the per-frame sample tables
_FIT_OVERHEAD_BYTES: Final = 4096
_FIT_OVERHEAD_PER_FRAME: Final = 32
#: encodes at one picture size before a smaller one is tried
_FIT_TRIES_PER_SIZE: Final = 2
#: each smaller rendition is this share of the previous one's height
_FIT_SCALE_STEP: Final = 0.8
#: below this many bits per pixel per frame H.264 is mush (x264 still "fits", mostly by
#: skipping blocks), so a smaller picture is tried instead; below it at the minimum height
#: the clip cannot fit. 720x480 at 8 fps needs 0.14 Mbit/s; Discord's 10 MiB limit gives
#: 81 frames of 1360x768 at 16 fps about 0.9.
_FIT_MIN_BITS_PER_PIXEL: Final = 0.05
#: a fixed x264 thread count: with the default (one per core) the output differs between machines.
#: No ``maxrate``/``bufsize`` either: x264's VBV with frame threads gives different bytes on every
#: run. Two passes hit the size without it; one pass overshot by 15-25% on short clips.
_FIT_THREADS: Final = 4
_FIT_PRESET: Final = "fast"
#: tags the MP4 muxer writes itself; copying them would store them twice
_MUXER_TAGS: Final = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


@dataclass(frozen=True, slots=True)
class _Source:
    """A decoded clip, ready to be encoded again."""

    frames: list[av.VideoFrame]  # yuv420p
    rate: Fraction
    width: int
    height: int
    tags: dict[str, str]

    @property
    def duration(self) -> float:
        return float(len(self.frames) / self.rate)


def fit_mp4(data: bytes, max_bytes: int, *, min_height: int = 240) -> bytes | None:
    """Re-encode an H.264 MP4 so that it is at most ``max_bytes`` long, e.g. for an upload limit.

    The frame count, frame rate and container tags are kept, and the result is yuv420p with
    ``+faststart`` like :func:`encode_mp4`. The first try keeps the picture size and aims a
    two-pass average bitrate at 92% of the limit; when x264 overshoots, the next try aims
    lower by as much as it missed, and after two tries the picture shrinks (same aspect, even
    sides) by steps of 20%, down to ``min_height``. A size that would get fewer than 0.05 bits
    per pixel is skipped: x264 would "fit" it by blurring it beyond recognition. The output is
    the same bytes on every run and machine (same FFmpeg build). Runs synchronously and
    CPU-bound (one or two seconds per try for 49 frames of 720x480): call it from a thread.

    Args:
        data: the MP4's bytes, as :func:`encode_mp4` makes them.
        max_bytes: the largest acceptable file, in bytes (Discord's default upload limit is
            10 MiB).
        min_height: the smallest picture height to try, in pixels.

    Returns:
        ``data`` itself when it already fits, else the re-encoded MP4, or ``None`` when even
        ``min_height`` rows at 0.05 bits per pixel do not fit.

    Raises:
        VideoError: ``max_bytes`` or ``min_height`` is invalid, ``data`` is not a decodable
            MP4, or FFmpeg failed.
    """
    if max_bytes < 1 or min_height < 2:
        raise VideoError(
            f"cannot fit a clip into {max_bytes} bytes with at least {min_height} rows: "
            "use a positive byte limit and a minimum height of at least 2"
        )
    if len(data) <= max_bytes:
        return data
    source = _decode_for_fit(data)
    budget_bits = 8 * (
        _FIT_MARGIN * max_bytes - _FIT_OVERHEAD_BYTES - _FIT_OVERHEAD_PER_FRAME * len(source.frames)
    )
    bitrate = int(budget_bits / source.duration)
    for height in _fit_heights(source.height, min_height):
        width = _even_width(source, height)
        pixel_rate = width * height * float(source.rate)
        for _ in range(_FIT_TRIES_PER_SIZE):
            if bitrate < _FIT_MIN_BITS_PER_PIXEL * pixel_rate:
                break  # too few bits for this many pixels: try a smaller picture
            out = _encode_fitted(source, width, height, bitrate)
            if len(out) <= max_bytes:
                return out
            # x264 overshot: aim lower by as much as it missed, with the margin again
            bitrate = int(bitrate * _FIT_MARGIN * max_bytes / len(out))
    return None


def _even_width(source: _Source, height: int) -> int:
    """The even width that keeps the source's aspect ratio at ``height`` rows."""
    return max(2, round(source.width * height / source.height / 2) * 2)


def _fit_heights(height: int, min_height: int) -> Iterator[int]:
    """The source height (made even), then smaller even heights a step apart, ending at ``min_height``."""
    current = height - height % 2
    yield current
    floor = min_height + min_height % 2
    while current > floor:
        current = max(floor, int(current * _FIT_SCALE_STEP) // 2 * 2)
        yield current


def _decode_for_fit(data: bytes) -> _Source:
    try:
        with av.open(io.BytesIO(data), "r", format="mp4") as container:
            if not container.streams.video:
                raise VideoError(f"the MP4 ({len(data)} bytes) has no video stream to re-encode")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            frames = [frame.reformat(format="yuv420p") for frame in container.decode(stream)]
            tags = {k: v for k, v in container.metadata.items() if k not in _MUXER_TAGS}
    except av.FFmpegError as exc:
        raise VideoError(f"the data is not a decodable MP4 ({len(data)} bytes): {exc}") from exc
    if not frames or not rate:
        raise VideoError(
            f"the MP4 ({len(data)} bytes) has {len(frames)} decodable frames at rate {rate}; "
            "re-encoding needs at least one frame and a known frame rate"
        )
    return _Source(frames, Fraction(rate), frames[0].width, frames[0].height, tags)


def _encode_fitted(source: _Source, width: int, height: int, bitrate: int) -> bytes:
    """Encode ``source`` at ``width`` x ``height`` in two x264 passes averaging ``bitrate`` bit/s."""
    try:
        with tempfile.TemporaryDirectory(prefix="reelbot-fit-") as tmp:
            # pass 1 only measures each frame's complexity (x264 runs it with fast settings);
            # pass 2 spends the bits where they count and lands within a few % of the target
            stats, path = str(Path(tmp) / "x264.log"), Path(tmp) / "clip.mp4"
            for flags in ("+pass1", "+pass2"):
                options = {
                    "preset": _FIT_PRESET,
                    "threads": str(_FIT_THREADS),
                    "flags": flags,
                    "stats": stats,
                }
                _write_fitted(path, source, width, height, bitrate, options)
            return path.read_bytes()
    except av.FFmpegError as exc:
        raise VideoError(f"FFmpeg could not re-encode the clip at {width}x{height}: {exc}") from exc
    except OSError as exc:
        raise _temp_file_error(exc) from exc


def _write_fitted(
    path: Path, source: _Source, width: int, height: int, bitrate: int, options: dict[str, str]
) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": _MOVFLAGS}) as container:
        container.metadata.update(source.tags)
        stream = container.add_stream("libx264", rate=source.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        context = stream.codec_context
        context.bit_rate = bitrate
        context.colorspace, context.color_range = Colorspace.ITU709, ColorRange.MPEG
        context.color_primaries, context.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        context.time_base = 1 / source.rate
        for index, decoded in enumerate(source.frames):
            frame = decoded
            if (width, height) != (decoded.width, decoded.height):
                frame = decoded.reformat(width=width, height=height, interpolation="AREA")
            frame.pts, frame.time_base = index, 1 / source.rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
