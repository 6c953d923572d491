"""Input images: safe decoding and fitting to a model's frame without stretching.

Pillow only (no torch), so that the bot can validate an attachment with the same rules
before it queues a job, and the worker can check again what it reads from storage.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

#: formats accepted from members; anything else is refused before decoding
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
#: the largest image decoded, in pixels (4096 x 4096)
MAX_PIXELS = 4096 * 4096


class ImageRejected(ValueError):
    """The image cannot be used; the message says what to send instead."""


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a PNG, JPEG or WEBP into an RGB image (first frame only, metadata dropped).

    Raises:
        ImageRejected: another format, a corrupt file, or more than ``max_pixels`` pixels.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs: make both an error here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = probe.size
            if width * height > max_pixels:
                side = int(max_pixels**0.5)
                raise ImageRejected(
                    f"the image is {width}x{height}; send one of at most {side}x{side} pixels"
                )
            probe.seek(0)
            probe.load()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"that file is not a readable {', '.join(ALLOWED_FORMATS)} image; send a PNG, JPEG or WEBP"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"the image could not be read ({exc}); send a PNG, JPEG or WEBP") from None
    return _clean_rgb(probe)


def _clean_rgb(image: Image.Image) -> Image.Image:
    """A fresh RGB image: transparency flattened onto black, no EXIF, ICC or text chunks."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    rgb = image.convert("RGB")
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def fit_to_frame(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop ``image`` to ``width``/``height``'s aspect ratio, then resize to it.

    Never stretches: the crop removes the edges that do not fit the model's frame.
    """
    src_w, src_h = image.size
    target = width / height
    if src_w / src_h > target:  # too wide: trim left and right
        crop_w, crop_h = round(src_h * target), src_h
    else:  # too tall: trim top and bottom
        crop_w, crop_h = src_w, round(src_w / target)
    left, top = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    return cropped.resize((width, height), Image.Resampling.LANCZOS)


def encode_png(image: Image.Image) -> bytes:
    """Re-encode as PNG (what the bot stores for the worker)."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
