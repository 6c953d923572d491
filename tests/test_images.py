"""Decoding input images: upright, straight into the model's frame, within a bounded memory."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from inference.images import decode_image, decode_to_frame, encode_png, fit_to_frame

ROOT = Path(__file__).resolve().parents[1]
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (40, 60, 220)


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def turned(orientation: int) -> bytes:
    """A JPEG as a phone saves it: the pixels as the sensor read them, and EXIF saying how to turn them.

    Upright, the picture is 600x900 (portrait): red at the top, blue at the bottom, green between.
    """
    upright = Image.new("RGB", (600, 900), GREEN)
    upright.paste(RED, (0, 0, 600, 150))
    upright.paste(BLUE, (0, 750, 600, 900))
    # the inverse of each orientation's turn: what the camera wrote
    stored = {
        1: upright,
        3: upright.transpose(Image.Transpose.ROTATE_180),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(stored, "JPEG", quality=95, exif=exif)


def close(pixel: Any, colour: tuple[int, int, int], tolerance: int = 16) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_phone_photo_is_decoded_upright(orientation: int) -> None:
    data = turned(orientation)

    full = decode_image(data)
    frame = decode_to_frame(data, 96, 144)  # a portrait frame: the whole picture fits

    assert full.size == (600, 900)
    for image in (full, frame):
        w, h = image.size
        assert close(image.getpixel((w // 2, 5)), RED), (orientation, image.getpixel((w // 2, 5)))
        assert close(image.getpixel((w // 2, h - 5)), BLUE)
        assert close(image.getpixel((w // 2, h // 2)), GREEN)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("frame", [(72, 48), (48, 72)], ids=["landscape-frame", "portrait-frame"])
def test_decoding_into_the_frame_equals_turning_upright_then_fitting(
    orientation: int, frame: tuple[int, int]
) -> None:
    picture = Image.radial_gradient("L").resize((301, 203)).convert("RGB")  # odd sizes: rounding shows
    picture.paste(RED, (0, 0, 60, 40))  # a corner that tells every turn and flip apart
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(picture, "PNG", exif=exif)

    expected = fit_to_frame(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"), *frame)
    got = decode_to_frame(data, *frame)

    assert got.size == frame and got.mode == "RGB"
    difference = ImageChops.difference(got, expected).convert("L")
    assert difference.getextrema()[1] < 80, "a different crop or turn"  # type: ignore[index]
    assert ImageStat.Stat(difference).mean[0] < 4


def test_transparency_is_flattened_onto_black_after_the_downscale() -> None:
    image = Image.new("RGBA", (1200, 800), (255, 0, 0, 128))  # half-transparent red
    image.paste((0, 0, 255, 0), (0, 0, 600, 800))  # the left half fully transparent blue

    frame = decode_to_frame(encoded(image, "PNG"), 72, 48)

    assert frame.mode == "RGB" and not frame.info
    assert close(frame.getpixel((60, 24)), (128, 0, 0), 2)
    assert close(frame.getpixel((10, 24)), (0, 0, 0), 2)  # no blue leaks from under the transparency


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_with_the_detail_the_frame_needs() -> None:
    data = encoded(Image.radial_gradient("L").resize((4000, 3000)).convert("RGB"), "JPEG")
    opened: list[tuple[int, int]] = []
    original_load = Image.Image.load

    def load(self: Image.Image) -> Any:
        opened.append(self.size)
        return original_load(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "load", load)
        frame = decode_to_frame(data, 720, 480)

    assert frame.size == (720, 480)
    decoded = max(opened, key=lambda size: size[0] * size[1])
    # half of each side, still twice the frame: not the 12 Mpx of the file
    assert decoded == (2000, 1500), opened


def test_the_worker_leaves_a_stored_frame_as_it_is() -> None:
    stored = encode_png(decode_to_frame(encoded(Image.new("RGB", (4000, 3000), GREEN), "JPEG"), 720, 480))

    image = decode_image(stored)  # what the daemon does with the blob

    assert fit_to_frame(image, 720, 480) is image  # what the generator then does: nothing


#: run in a fresh interpreter: decode the file named on the command line, print MiB above idle
PEAK_OF_ONE_DECODE = """
import gc, sys
from pathlib import Path
from inference.images import decode_to_frame

def mib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

data = Path(sys.argv[1]).read_bytes()
decode_to_frame(Path(sys.argv[2]).read_bytes(), 72, 48)  # warm up on a small file
gc.collect()
idle = mib("VmRSS")
frame = decode_to_frame(data, 720, 480)
print(mib("VmHWM") - idle)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_a_64_kib_png_of_4096x4096_rgba_is_decoded_within_two_full_size_copies(tmp_path: Path) -> None:
    worst, small = tmp_path / "worst.png", tmp_path / "small.png"
    worst.write_bytes(encoded(Image.new("RGBA", (4096, 4096), (40, 160, 90, 200)), "PNG"))
    small.write_bytes(encoded(Image.new("RGBA", (64, 64), (40, 160, 90, 200)), "PNG"))
    assert worst.stat().st_size < 100 * 1024  # the file is small; its pixels are 64 MiB

    command = [sys.executable, "-c", PEAK_OF_ONE_DECODE, str(worst), str(small)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)

    assert done.returncode == 0, done.stderr
    above_idle_mib = float(done.stdout)
    # the decoded RGBA and its premultiplied copy are 64 MiB each; flattening at full size took ~360 MB
    assert above_idle_mib < 150, above_idle_mib
