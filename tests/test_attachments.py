"""Taking an image from an interaction: a real aiohttp client against a local stand-in for Discord's CDN."""

from __future__ import annotations

import asyncio
import io
import logging
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image, PngImagePlugin

from bot import attachments
from bot.attachments import AcceptedImage, AttachmentInfo, AttachmentRejected, ImageFetcher, fetch_image
from bot.origins import origin_of

MIB = 1024 * 1024
SEND = "send a PNG, JPEG or WEBP under 10 MiB and at most 4096x4096 pixels"
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (40, 60, 220)


@dataclass
class Cdn:
    """A local HTTP server serving ``files``, recording every request it gets."""

    origin: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    #: bytes each streaming route managed to send before the client hung up
    streamed: list[int] = field(default_factory=list)

    def info(self, path: str, *, size: int | None = None, filename: str = "image.png") -> AttachmentInfo:
        """An attachment at ``path`` on this server, declaring ``size`` (the file's own by default)."""
        if size is None:
            size = len(self.files.get(path.rsplit("/", 1)[-1], b""))
        return AttachmentInfo(url=self.origin + path, filename=filename, size=size, content_type=None)

    async def fetch(self, path: str, **kwargs: Any) -> AcceptedImage:
        info = kwargs.pop("info", None) or self.info(path, size=kwargs.pop("size", None))
        async with aiohttp.ClientSession() as session:
            return await fetch_image(session, info, allowed_origins=[self.origin], **kwargs)

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/files/{request.match_info['name']}")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """64 MiB of PNG-looking bytes, with or without an honest Content-Length header.

        With the header, the body starts only after 5 s: a client that reads the header
        refuses at once.
        """
        total, sent = 64 * MIB, 0
        response = web.StreamResponse()
        with_length = request.match_info["header"] == "with-length"
        if with_length:
            response.content_length = total
        try:
            await response.prepare(request)
            await response.write(b"\x89PNG\r\n\x1a\n")  # sends the headers
            sent = 8
            if with_length:
                await asyncio.sleep(5)
            chunk = bytes(64 * 1024)
            while sent < total:
                await response.write(chunk[: total - sent])
                sent += min(len(chunk), total - sent)
            await response.write_eof()
        except ConnectionError:
            pass
        finally:
            self.streamed.append(sent)
        return response


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    cdn = Cdn()

    @web.middleware
    async def record(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        cdn.requests.append(f"{request.method} {request.path}")
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[record])
    app.router.add_get("/files/{name}", cdn._file)
    app.router.add_get("/redirect/{name}", cdn._redirect)
    app.router.add_get("/stream/{header}", cdn._stream)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    cdn.origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield cdn
    await runner.cleanup()


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def with_exif(image: Image.Image, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "GPS-leaking app"  # Software
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "home address")
        return encoded(image, fmt, exif=exif, pnginfo=text)
    return encoded(image, fmt, exif=exif, quality=95)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but whose data is a few bytes: a bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(64)))
        + chunk(b"IEND", b"")
    )


def stripes(width: int, height: int, *, vertical: bool) -> Image.Image:
    """Green in the middle, red and blue at the two ends that a centre crop to 3:2 removes."""
    image = Image.new("RGB", (width, height), GREEN)
    if vertical:  # wide image: bands at the left and right
        band = (width - height * 3 // 2) // 2
        image.paste(RED, (0, 0, band, height))
        image.paste(BLUE, (width - band, 0, width, height))
    else:  # tall image: bands at the top and bottom
        band = (height - width * 2 // 3) // 2
        image.paste(RED, (0, 0, width, band))
        image.paste(BLUE, (0, height - band, width, height))
    return image


def close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.fixture
def decoding_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Image.Image:
        raise AssertionError("the image was decoded; it should have been refused from its header")

    monkeypatch.setattr(attachments, "decode_to_frame", refuse)


# ------------------------------------------------------------------------ accepted


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
async def test_a_good_image_is_re_encoded_as_a_clean_rgb_png_of_the_model_frame(cdn: Cdn, fmt: str) -> None:
    source = Image.new("RGBA" if fmt == "PNG" else "RGB", (640, 360), (90, 140, 200, 255))
    cdn.files["photo"] = with_exif(source, fmt)
    assert Image.open(io.BytesIO(cdn.files["photo"])).getexif()  # the test means something

    accepted = await cdn.fetch("/files/photo")

    assert (accepted.source_format, accepted.width, accepted.height) == (fmt, 720, 480)
    stored = Image.open(io.BytesIO(accepted.png))
    assert (stored.format, stored.mode, stored.size) == ("PNG", "RGB", (720, 480))
    assert not stored.getexif() and "exif" not in stored.info
    assert stored.text == {}  # type: ignore[attr-defined]
    assert close(stored.getpixel((360, 240)), (90, 140, 200))  # type: ignore[arg-type]
    assert cdn.requests == ["GET /files/photo"]


@pytest.mark.parametrize(
    ("size", "vertical"),
    [((900, 300), True), ((300, 900), False)],
    ids=["wide", "tall"],
)
async def test_the_stored_image_and_preview_are_centre_cropped_to_the_model_frame_not_stretched(
    cdn: Cdn, size: tuple[int, int], vertical: bool
) -> None:
    cdn.files["stripes.png"] = encoded(stripes(*size, vertical=vertical), "PNG")

    accepted = await cdn.fetch("/files/stripes.png")

    preview = Image.open(io.BytesIO(accepted.preview_png))
    stored = Image.open(io.BytesIO(accepted.png))
    assert (preview.format, preview.size) == ("PNG", (480, 320))
    assert (stored.format, stored.size) == ("PNG", (720, 480))
    # stretched or cropped off-centre, red or blue would show at an edge
    for image in (preview, stored):
        w, h = image.size
        for xy in [(2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3), (w // 2, h // 2)]:
            assert close(image.getpixel(xy), GREEN), (image.size, xy, image.getpixel(xy))  # type: ignore[arg-type]


async def test_the_preview_follows_the_model_aspect_and_stays_at_most_480_wide(cdn: Cdn) -> None:
    cdn.files["wide.png"] = encoded(Image.new("RGB", (2000, 1000), GREEN), "PNG")

    accepted = await cdn.fetch("/files/wide.png", aspect=(1360, 768))

    assert Image.open(io.BytesIO(accepted.preview_png)).size == (480, 271)


def noise(width: int, height: int) -> Image.Image:
    """Camera noise at its worst: every pixel random, which PNG cannot compress."""
    return Image.merge("RGB", [Image.effect_noise((width, height), 80).convert("L") for _ in range(3)])


@pytest.mark.parametrize(
    ("frame", "budget"),
    [((720, 480), 1_500_000), ((1360, 768), 1_500_000 * 1360 * 768 // (720 * 480))],
    ids=["720x480", "1360x768"],
)
async def test_what_is_stored_is_the_model_frame_within_its_budget_however_noisy_the_upload(
    cdn: Cdn, frame: tuple[int, int], budget: int
) -> None:
    cdn.files["noisy.jpg"] = encoded(noise(2400, 2400), "JPEG", quality=90)
    assert len(cdn.files["noisy.jpg"]) > 2 * MIB  # a full-size PNG of it would be 17 MB

    accepted = await cdn.fetch("/files/noisy.jpg", aspect=frame)

    stored = Image.open(io.BytesIO(accepted.png))
    assert (stored.format, stored.size, (accepted.width, accepted.height)) == ("PNG", frame, frame)
    assert len(accepted.png) <= budget, len(accepted.png)


async def test_a_portrait_phone_photo_with_orientation_6_is_stored_upright(cdn: Cdn) -> None:
    upright = Image.new("RGB", (900, 1200), GREEN)  # held upright: green on the left, blue on the right
    upright.paste(BLUE, (450, 0, 900, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6  # the phone saved its sensor's pixels and says: turn them 90 degrees clockwise
    cdn.files["portrait.jpg"] = encoded(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif)

    accepted = await cdn.fetch("/files/portrait.jpg")

    for data in (accepted.png, accepted.preview_png):
        image = Image.open(io.BytesIO(data))
        w, h = image.size
        # sideways, green would be at the bottom and blue at the top
        assert close(image.getpixel((w // 4, h // 2)), GREEN), image.getpixel((w // 4, h // 2))  # type: ignore[arg-type]
        assert close(image.getpixel((3 * w // 4, h // 2)), BLUE)  # type: ignore[arg-type]
        assert not image.getexif()


@dataclass
class SlowDecodes:
    """Stands in for the decoder: counts decodes running at once and holds each until released."""

    release: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    started: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, data: bytes, width: int, height: int, *, max_pixels: int) -> Image.Image:
        with self.lock:
            self.running += 1
            self.started += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return Image.new("RGB", (width, height), GREEN)


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_at_most_two_images_are_decoded_at_once_however_many_are_sent(
    cdn: Cdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = SlowDecodes()
    monkeypatch.setattr(attachments, "decode_to_frame", decodes)
    cdn.files["good.png"] = encoded(Image.new("RGB", (64, 64), GREEN), "PNG")
    fetcher = ImageFetcher([cdn.origin], 10 * MIB)  # the default, as the bot builds it

    try:
        six = asyncio.gather(*(fetcher(cdn.info("/files/good.png"), (720, 480)) for _ in range(6)))
        await wait_for(lambda: decodes.started == 2)
        await asyncio.sleep(0.2)
        assert decodes.started == 2  # the other four wait their turn
        decodes.release.set()
        accepted = await six
    finally:
        decodes.release.set()
        await fetcher.aclose()

    assert len(accepted) == 6 and decodes.most_at_once == 2


async def test_a_cancelled_request_keeps_its_decode_slot_until_its_decode_ends(
    cdn: Cdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = SlowDecodes()
    monkeypatch.setattr(attachments, "decode_to_frame", decodes)
    cdn.files["good.png"] = encoded(Image.new("RGB", (64, 64), GREEN), "PNG")
    fetcher = ImageFetcher([cdn.origin], 10 * MIB, max_decodes=1)

    try:
        first = asyncio.create_task(fetcher(cdn.info("/files/good.png"), (720, 480)))
        await wait_for(lambda: decodes.started == 1)
        second = asyncio.create_task(fetcher(cdn.info("/files/good.png"), (720, 480)))
        await asyncio.sleep(0.1)
        first.cancel()  # the member's request went away; its thread cannot be stopped
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0.2)
        assert decodes.started == 1  # the thread still runs, so the second waits
        decodes.release.set()
        await second
    finally:
        decodes.release.set()
        await fetcher.aclose()

    assert decodes.started == 2 and decodes.most_at_once == 1


# ------------------------------------------------------------------------- refused


def gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, GREEN)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"just some text, not an image at all\n" * 20, "not an image", id="text-named-png"),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
            "SVG drawings are not supported",
            id="svg",
        ),
        pytest.param(gif(), "GIFs are not supported", id="gif"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(200), "PDF files are not supported", id="pdf"),
        pytest.param(bytes(4) + b"ftypheic" + bytes(64), "HEIC and AVIF", id="heic"),
        pytest.param(encoded(Image.new("RGB", (8, 8)), "BMP"), "BMP files", id="bmp"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(100), "could not be read", id="broken-png"),
    ],
)
async def test_other_formats_are_refused_by_content_whatever_the_name(
    cdn: Cdn, data: bytes, expected: str
) -> None:
    cdn.files["cat.png"] = data

    with pytest.raises(AttachmentRejected) as refused:
        await cdn.fetch("/files/cat.png")

    assert expected in str(refused.value) and SEND in str(refused.value)


async def test_a_tiny_png_declaring_20000x20000_is_refused_from_its_header(
    cdn: Cdn, decoding_forbidden: None
) -> None:
    cdn.files["bomb.png"] = png_declaring(20000, 20000)
    # decoding would need 1.2 GB; the file is a few bytes, so only its header can say 20000x20000
    assert len(cdn.files["bomb.png"]) < 100

    with pytest.raises(AttachmentRejected) as refused:
        await cdn.fetch("/files/bomb.png")

    assert str(refused.value) == f"Your image is 20000x20000 pixels; {SEND}."


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {"quality": 10}), ("WEBP", {"quality": 10}), ("WEBP", {"lossless": True})],
    ids=["png", "jpeg", "webp", "webp-lossless"],
)
async def test_one_pixel_too_many_is_refused_before_decoding(
    cdn: Cdn, fmt: str, options: dict[str, Any], decoding_forbidden: None
) -> None:
    cdn.files["big"] = encoded(Image.new("RGB", (4097, 4096), GREEN), fmt, **options)

    with pytest.raises(AttachmentRejected, match="Your image is 4097x4096 pixels; send"):
        await cdn.fetch("/files/big")


async def test_a_declared_12_mib_file_is_refused_without_downloading(cdn: Cdn) -> None:
    small = encoded(Image.new("RGB", (64, 64), GREEN), "JPEG")
    cdn.files["huge.jpg"] = small + bytes(12 * MIB - len(small))  # bytes after the JPEG's end are legal

    with pytest.raises(AttachmentRejected) as refused:
        await cdn.fetch("/files/huge.jpg")

    assert str(refused.value) == f"Your file is 12 MiB, over the 10 MiB limit; {SEND}."
    assert cdn.requests == []


@pytest.mark.parametrize("header", ["chunked", "with-length"])
async def test_a_body_bigger_than_declared_is_cut_off_at_the_limit(cdn: Cdn, header: str) -> None:
    started = time.monotonic()
    with pytest.raises(AttachmentRejected) as refused:
        await cdn.fetch(f"/stream/{header}", size=1 * MIB)  # the declared size lies

    assert str(refused.value) == f"Your file is over the 10 MiB limit; {SEND}."
    assert time.monotonic() - started < 2.5  # a Content-Length over the limit is refused unread
    for _ in range(100):  # the server notices the hang-up on its next write
        if cdn.streamed:
            break
        await asyncio.sleep(0.05)
    # the client stopped reading at 10 MiB; socket buffers may have taken a few MiB more
    assert cdn.streamed and cdn.streamed[0] < 32 * MIB, cdn.streamed


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/files/good.png",  # the same server under another name
        "http://127.0.0.1:{other}/files/good.png",
        "https://127.0.0.1:{port}/files/good.png",
        "http://cdn.discordapp.com@127.0.0.1:{port}/files/good.png",  # user info: not an attachment URL
        "https://cdn.discordapp.com.example.org/files/good.png",
        "file:///etc/passwd",
        "/files/good.png",
        "http://127.0.0.1:{port}\\@evil.example/files/good.png",
    ],
)
async def test_a_url_off_the_allowed_origins_is_refused_without_a_request(
    cdn: Cdn, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cdn.files["good.png"] = encoded(Image.new("RGB", (64, 64), GREEN), "PNG")
    port = int(cdn.origin.rsplit(":", 1)[1])
    info = AttachmentInfo(
        url=url.format(port=port, other=port + 1), filename="good.png", size=100, content_type=None
    )

    with (
        caplog.at_level(logging.WARNING, logger="bot.attachments"),
        pytest.raises(AttachmentRejected) as refused,
    ):
        await cdn.fetch("", info=info)

    assert "does not come from Discord's CDN" in str(refused.value) and SEND in str(refused.value)
    assert cdn.requests == []
    assert [r.levelname for r in caplog.records] == ["WARNING"]


async def test_a_redirect_is_refused_and_its_target_never_fetched(cdn: Cdn) -> None:
    cdn.files["good.png"] = encoded(Image.new("RGB", (64, 64), GREEN), "PNG")

    with pytest.raises(AttachmentRejected) as refused:
        await cdn.fetch("/redirect/good.png", size=100)

    assert "redirects elsewhere (HTTP 302)" in str(refused.value) and SEND in str(refused.value)
    assert cdn.requests == ["GET /redirect/good.png"]


async def test_a_failed_download_says_to_try_again(cdn: Cdn) -> None:
    with pytest.raises(AttachmentRejected, match=r"failed \(HTTP 404\); try again in a minute"):
        await cdn.fetch("/files/gone.png", size=100)


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("HTTP://127.0.0.1:{port}", "http://127.0.0.1:{port}/files/good.png"),
        ("http://127.0.0.1:{port}/", "HTTP://127.0.0.1:{port}/files/good.png"),
    ],
)
async def test_origins_match_whatever_their_case(cdn: Cdn, allowed: str, url: str) -> None:
    cdn.files["good.png"] = encoded(Image.new("RGB", (64, 64), GREEN), "PNG")
    port = int(cdn.origin.rsplit(":", 1)[1])
    info = AttachmentInfo(url=url.format(port=port), filename="good.png", size=100, content_type="image/png")

    async with aiohttp.ClientSession() as session:
        accepted = await fetch_image(session, info, allowed_origins=[allowed.format(port=port)])

    assert accepted.source_format == "PNG"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://cdn.discordapp.com", "HTTPS://CDN.DiscordApp.COM:443/attachments/1/2/a.png", True),
        ("http://media.discordapp.net:80", "http://media.discordapp.net/x.png", True),
        ("https://cdn.discordapp.com", "http://cdn.discordapp.com/x.png", False),
        ("https://cdn.discordapp.com", "https://cdn.discordapp.com:8443/x.png", False),
    ],
)
def test_default_ports_are_normalised(a: str, b: str, same: bool) -> None:
    from yarl import URL

    assert (origin_of(URL(a)) == origin_of(URL(b))) is same


async def test_a_misconfigured_origin_is_a_configuration_error(cdn: Cdn) -> None:
    with pytest.raises(ValueError, match=r"is not an origin like https://cdn.discordapp.com \(scheme://host"):
        async with aiohttp.ClientSession() as session:
            await fetch_image(
                session, cdn.info("/files/x.png", size=1), allowed_origins=["cdn.discordapp.com"]
            )
