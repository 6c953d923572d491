"""Input images: safe decoding, at the size the model will use, and fitting to a model's frame.

Pillow only (no torch), so that the bot can validate an attachment with the same rules
before it queues a job, and the worker can check again what it reads from storage.

Decoding is where an image costs memory: a 64 KiB PNG can declare 4096x4096 RGBA (64 MiB
decoded). :func:`decode_to_frame` keeps that to one full-size copy at most: a JPEG is decoded
at a reduced scale (``draft``), and transparency is flattened after the downscale, not at
full size.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile, UnidentifiedImageError

#: formats accepted from members; anything else is refused before decoding
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
#: the largest image decoded, in pixels (4096 x 4096)
MAX_PIXELS = 4096 * 4096
#: a downscale first averages whole blocks of pixels down to at most this many times the
#: target, then Lanczos does the rest: Pillow's documented gap for a result indistinguishable
#: from Lanczos all the way, at a fraction of the time
REDUCING_GAP = 3.0
#: a JPEG is decoded at 1/2, 1/4 or 1/8 scale while it keeps at least this many times the
#: frame's pixels on each side (what Pillow's ``thumbnail`` keeps)
DRAFT_GAP = 2.0

_ORIENTATION_TAG = 0x0112
#: EXIF orientation -> how to turn the stored pixels upright (the table of ImageOps.exif_transpose)
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: orientations whose upright picture swaps width and height
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


class ImageRejected(ValueError):
    """The image cannot be used; the message says what to send instead."""


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a PNG, JPEG or WEBP into an upright RGB image at full size.

    First frame only; EXIF orientation applied; transparency flattened onto black; metadata dropped.

    Raises:
        ImageRejected: another format, a corrupt file, or more than ``max_pixels`` pixels.
    """
    with _reading():
        image = _open(data, max_pixels)
        image.load()
        orientation = _orientation(image)
        work = _then_close(image, _scalable(image))
        work = _then_close(work, _premultiplied(work))
        return _upright(_flat_rgb(work), orientation)


def decode_to_frame(data: bytes, width: int, height: int, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a PNG, JPEG or WEBP straight into a model's frame: ``width`` x ``height`` RGB.

    The upright picture (EXIF orientation applied) is centre-cropped to the frame's aspect
    ratio, never stretched, and scaled to the frame (down, or up when it is smaller). First
    frame only; transparency flattened onto black; metadata dropped. What it returns,
    :func:`fit_to_frame` leaves as it is.

    Raises:
        ImageRejected: another format, a corrupt file, or more than ``max_pixels`` pixels.
        ValueError: ``width`` or ``height`` is not positive.
    """
    if width < 1 or height < 1:
        raise ValueError(f"the frame {width}x{height} must be positive, e.g. 720x480")
    with _reading():
        image = _open(data, max_pixels)
        if image.format == "PNG":
            image.load()  # a PNG may keep its EXIF after its pixels (and has no reduced decoding)
        orientation = _orientation(image)
        # work in the file's own coordinates and turn the small result upright at the end: a
        # centred crop is the same crop whichever way the picture is turned
        frame = (height, width) if orientation in _QUARTER_TURNS else (width, height)
        if image.format == "JPEG":
            _draft(image, frame)
        image.load()
        # each step frees the one before: at most two copies at once, the second one smaller
        work = _then_close(image, _centred(image, frame))
        work = _then_close(work, _scalable(work))
        work = _then_close(work, _premultiplied(work))
        scaled = _then_close(work, work.resize(frame, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP))
        return _upright(_flat_rgb(scaled), orientation)


def fit_to_frame(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop ``image`` to ``width``/``height``'s aspect ratio, then resize to it.

    Never stretches: the crop removes the edges that do not fit the model's frame. An image
    already ``width`` x ``height`` is returned as it is.
    """
    if image.size == (width, height):
        return image
    return _centred(image, (width, height)).resize((width, height), Image.Resampling.LANCZOS)


def encode_png(image: Image.Image) -> bytes:
    """Re-encode as PNG (what the bot stores for the worker)."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --------------------------------------------------------------------------- decoding


@contextmanager
def _reading() -> Iterator[None]:
    """Translate Pillow's many ways of failing on a hostile file into :class:`ImageRejected`."""
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs: make both an error here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"that file is not a readable {', '.join(ALLOWED_FORMATS)} image; send a PNG, JPEG or WEBP"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"the image could not be read ({exc}); send a PNG, JPEG or WEBP") from None


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """The file opened at its first frame, its pixels not decoded yet."""
    image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    width, height = image.size
    if width * height > max_pixels:
        side = int(max_pixels**0.5)
        raise ImageRejected(f"the image is {width}x{height}; send one of at most {side}x{side} pixels")
    image.seek(0)
    return image


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright), or 1 where the EXIF block cannot be read."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, struct.error):
        return 1  # a damaged EXIF block only loses its orientation: the pixels are fine
    return value if isinstance(value, int) and value in _UPRIGHT else 1


def _draft(image: ImageFile.ImageFile, frame: tuple[int, int]) -> None:
    """Have the JPEG decoder scale by 1/2, 1/4 or 1/8 while it decodes, keeping enough pixels.

    The crop keeps at least ``DRAFT_GAP`` times the frame's pixels on each side where the file
    has them; the scaling is done on the DCT blocks, so it costs nothing in quality.
    """
    left, top, right, bottom = _centre_box(image.size, frame)
    crop_w, crop_h = right - left, bottom - top
    # the whole picture's size at which its crop would be DRAFT_GAP times the frame
    want = (
        math.ceil(image.size[0] * frame[0] * DRAFT_GAP / crop_w),
        math.ceil(image.size[1] * frame[1] * DRAFT_GAP / crop_h),
    )
    image.draft(None, want)


def _centre_box(size: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest box of ``frame``'s aspect ratio in the middle of ``size`` (left, top, right, bottom)."""
    src_w, src_h = size
    target = frame[0] / frame[1]
    if src_w / src_h > target:  # too wide: trim left and right
        crop_w, crop_h = max(1, min(src_w, round(src_h * target))), src_h
    else:  # too tall: trim top and bottom
        crop_w, crop_h = src_w, max(1, min(src_h, round(src_w / target)))
    left, top = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def _centred(image: Image.Image, frame: tuple[int, int]) -> Image.Image:
    """The middle of ``image`` in ``frame``'s aspect ratio (``image`` itself if it has that ratio).

    Cropped before resizing, not resized with a box: a box lets the filter reach the pixels
    just outside it, and what was cropped off would bleed into the edges.
    """
    box = _centre_box(image.size, frame)
    return image if box == (0, 0, *image.size) else image.crop(box)


def _then_close(image: Image.Image, result: Image.Image) -> Image.Image:
    """``result``, with ``image``'s pixels freed now rather than when the garbage collector runs."""
    if result is not image:
        image.close()
    return result


def _scalable(image: Image.Image) -> Image.Image:
    """``image`` in a mode Lanczos can scale: RGB or L, or RGBA or LA where it has transparency.

    Palette, 16-bit and CMYK images are converted at full size (one copy; rare for photos).
    """
    if image.mode in ("RGBA", "LA", "RGB", "L") and "transparency" not in image.info:
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _premultiplied(image: Image.Image) -> Image.Image:
    """RGBA and LA as premultiplied RGBa and La; other modes as they are.

    Premultiplied colour is the colour composited onto black, so dropping the alpha after the
    downscale (:func:`_flat_rgb`) is the same as flattening first, at a fraction of the pixels.
    """
    if image.mode in ("RGBA", "LA"):
        return image.convert("RGBa" if image.mode == "RGBA" else "La")
    return image


def _flat_rgb(image: Image.Image) -> Image.Image:
    """A fresh RGB image of a scalable one: premultiplied alpha dropped, no EXIF, ICC or text chunks."""
    if image.mode == "RGBa":
        image = Image.merge("RGB", image.split()[:3])  # not convert(): that would un-premultiply
    elif image.mode == "La":
        image = image.getchannel(0)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    clean = Image.new("RGB", rgb.size)  # not rgb itself: its info would carry the ICC profile into the PNG
    clean.paste(rgb)
    return clean


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _UPRIGHT.get(orientation)
    return image if method is None else image.transpose(method)
