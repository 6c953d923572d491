"""Taking an image from a Discord interaction: download it safely, check it, re-encode it.

An interaction's attachment URL comes from the client, so it is treated as hostile: only
Discord's CDN origins are fetched, redirects are refused, the body is counted as it streams
(the declared size may lie), and the format and pixel count are checked from the bytes
themselves before anything is decoded. What is kept is the model's frame: the upright picture
centre-cropped to the frame's aspect, scaled to it and re-encoded by Pillow as a clean PNG, so
that what is stored is never larger than the model needs, whatever was uploaded.

Decoding is the one step whose memory grows with the image (a 64 KiB PNG can decode to 64 MiB),
so an :class:`ImageFetcher` runs at most ``max_decodes`` of them at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import logging
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
from PIL import Image
from yarl import URL

from bot.i18n import _
from bot.origins import origin_of, parse_origin
from inference.images import ImageRejected, decode_to_frame, encode_png, fit_to_frame

log = logging.getLogger(__name__)

#: where Discord serves attachments from
DEFAULT_CDN_ORIGINS = ("https://cdn.discordapp.com", "https://media.discordapp.net")
#: the longest a download may take, start to end
DOWNLOAD_TIMEOUT_SECONDS = 30.0
#: the preview shown to the member is at most this wide
PREVIEW_MAX_WIDTH = 480
#: decodes one ImageFetcher runs at once (REELBOT_IMAGE_DECODES): each may take ~110 MiB at the
#: pixel limit (a 4096x4096 RGBA PNG), so two keep a burst of uploads within ~250 MiB
DEFAULT_MAX_DECODES = 2

_MIB = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
#: the frame an image is fitted to: (width, height), or a function of the upright picture's size
Frame = tuple[int, int] | Callable[[int, int], tuple[int, int]]
#: the EXIF tag that says how a picture is turned
_ORIENTATION = 0x0112
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers; C4/C8/CC are not
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)


class AttachmentRejected(Exception):
    """The attachment cannot be used; the message is safe to show the member and says what to send."""


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    """An attachment that passed every check, fitted to the model's frame and re-encoded."""

    png: bytes  # the model's frame, RGB, upright, first frame only, no metadata: what gets stored
    width: int  # of ``png``: the model's frame
    height: int
    preview_png: bytes  # ``png`` at most PREVIEW_MAX_WIDTH wide
    source_format: str  # "PNG", "JPEG" or "WEBP"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What the bot knows about an interaction's attachment (copied from ``discord.Attachment``)."""

    url: str
    filename: str
    size: int  # as declared by the client: checked first, but never trusted
    content_type: str | None


async def fetch_image(
    session: aiohttp.ClientSession,
    attachment: AttachmentInfo,
    *,
    allowed_origins: Sequence[str],
    max_bytes: int = 10 * _MIB,
    max_pixels: int = 4096 * 4096,
    aspect: Frame = (720, 480),
    decode_slots: asyncio.Semaphore | None = None,
) -> AcceptedImage:
    """Download an attachment from Discord's CDN and accept it if it is a PNG, JPEG or WEBP within limits.

    Args:
        session: the bot's HTTP session.
        attachment: the attachment's URL, name and declared size.
        allowed_origins: ``scheme://host[:port]`` origins the URL may point at (exact match,
            case and default ports normalised), e.g. :data:`DEFAULT_CDN_ORIGINS`.
        max_bytes: the largest file accepted, checked on the declared size and while streaming.
        max_pixels: the most pixels accepted, checked from the image header before decoding.
        aspect: the model's frame (width, height): what is kept is the picture centre-cropped
            to its aspect ratio and scaled to it; or a function of the upright picture's
            (width, height) that gives the frame (a model that keeps the image's shape).
        decode_slots: held while the image is decoded (shared by the calls it should bound);
            None decodes at once.

    Returns:
        The model's frame re-encoded as PNG, its size, a preview and the format it came in.

    Raises:
        AttachmentRejected: the URL, size, format, dimensions or download are not acceptable;
            the message tells the member what to send instead.
        ValueError: ``allowed_origins`` holds something that is not an origin, or ``aspect``
            is not positive (a configuration error, not the member's).
    """
    send = _send_instead(max_bytes, max_pixels)
    url = _allowed_url(attachment, allowed_origins, send)
    if attachment.size > max_bytes:
        raise AttachmentRejected(
            _(
                "Your file is {size} MiB, over the {limit} MiB limit; {send}.",
                size=_mib_up(attachment.size),
                limit=_mib_down(max_bytes),
                send=send,
            )
        )
    data = await _download(session, url, max_bytes, send)
    if decode_slots is None:
        return await asyncio.to_thread(_accept, data, max_pixels, aspect, send)
    return await _in_slot(decode_slots, functools.partial(_accept, data, max_pixels, aspect, send))


class ImageFetcher:
    """Downloads and checks attachments with one HTTP session and the deployment's settings.

    At most ``max_decodes`` images are decoded at once, however many members send one.
    """

    def __init__(
        self, allowed_origins: Sequence[str], max_bytes: int, max_decodes: int = DEFAULT_MAX_DECODES
    ) -> None:
        if max_decodes < 1:
            raise ValueError(f"max_decodes must be at least 1, not {max_decodes}")
        self.allowed_origins, self.max_bytes = tuple(allowed_origins), max_bytes
        self._decode_slots = asyncio.Semaphore(max_decodes)
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, attachment: AttachmentInfo, aspect: Frame) -> AcceptedImage:
        """See :func:`fetch_image`."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return await fetch_image(
            self._session,
            attachment,
            allowed_origins=self.allowed_origins,
            max_bytes=self.max_bytes,
            aspect=aspect,
            decode_slots=self._decode_slots,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _in_slot(slots: asyncio.Semaphore, work: Callable[[], AcceptedImage]) -> AcceptedImage:
    """``work()`` on a thread while holding one of ``slots``, until the thread ends.

    A thread cannot be cancelled: if the caller is (the member's request timed out, the bot
    stops), the slot stays taken until the thread finishes, so the bound holds. The thread runs
    in the caller's context, so its refusals are in the member's language.
    """
    await slots.acquire()
    try:
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(None, context.run, work)
    except BaseException:
        slots.release()
        raise

    def done(finished: asyncio.Future[AcceptedImage]) -> None:
        slots.release()
        if not finished.cancelled():
            finished.exception()  # retrieved: a caller that went away no longer wants it

    future.add_done_callback(done)
    return await asyncio.shield(future)


# ------------------------------------------------------------------------- the URL


def _allowed_url(attachment: AttachmentInfo, allowed_origins: Sequence[str], send: str) -> URL:
    allowed = {parse_origin(text) for text in allowed_origins}
    try:
        url = URL(attachment.url)
        origin = origin_of(url)
    except ValueError:
        origin = None
    if origin is None or origin not in allowed:
        # Discord only sends its own CDN URLs: anything else means a crafted interaction
        log.warning(
            "refused attachment %r: its URL %.200r is not on %s",
            attachment.filename,
            attachment.url,
            allowed_origins,
        )
        raise AttachmentRejected(
            _(
                "That attachment does not come from Discord's CDN, so Reelbot will not fetch it; "
                "upload the image itself with the command: {send}.",
                send=send,
            )
        )
    return url


# ----------------------------------------------------------------------- the download


async def _download(session: aiohttp.ClientSession, url: URL, max_bytes: int, send: str) -> bytes:
    """The body at ``url``, refusing redirects and stopping as soon as it passes ``max_bytes``."""
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
    # identity: a compressed body would make the byte count below mean less
    headers = {"Accept-Encoding": "identity"}
    body = bytearray()
    try:
        async with session.get(url, allow_redirects=False, timeout=timeout, headers=headers) as response:
            if 300 <= response.status < 400:
                log.warning("refused attachment %.200s: it redirects (HTTP %d)", url, response.status)
                raise AttachmentRejected(
                    _(
                        "Your attachment's link redirects elsewhere (HTTP {status}), which Reelbot "
                        "does not follow; upload the image itself with the command: {send}.",
                        status=response.status,
                        send=send,
                    )
                )
            if response.status != 200:
                raise AttachmentRejected(
                    _(
                        "Downloading your image from Discord failed (HTTP {status}); "
                        "try again in a minute, or upload it again.",
                        status=response.status,
                    )
                )
            if response.content_length is not None and response.content_length > max_bytes:
                response.close()
                raise _too_big(max_bytes, send)
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    response.close()  # drop the connection rather than read the rest
                    raise _too_big(max_bytes, send)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("attachment download from %.200s failed: %r", url, exc)
        raise AttachmentRejected(
            _(
                "Downloading your image from Discord failed or took over {seconds:.0f} s; "
                "try again in a minute, or upload it again.",
                seconds=DOWNLOAD_TIMEOUT_SECONDS,
            )
        ) from None
    return bytes(body)


def _too_big(max_bytes: int, send: str) -> AttachmentRejected:
    return AttachmentRejected(
        _("Your file is over the {limit} MiB limit; {send}.", limit=_mib_down(max_bytes), send=send)
    )


# -------------------------------------------------------------------- the image itself


def _accept(data: bytes, max_pixels: int, aspect: Frame, send: str) -> AcceptedImage:
    """Check downloaded bytes, fit them to the model's frame and re-encode (CPU work: runs in a thread)."""
    fmt = _sniff(data, send)
    declared = _header_size(fmt, data)
    # Pillow's own bomb check fires only above ~89 Mpx and says nothing of the size: check first
    if declared is not None and declared[0] * declared[1] > max_pixels:
        raise AttachmentRejected(
            _(
                "Your image is {width}x{height} pixels; {send}.",
                width=declared[0],
                height=declared[1],
                send=send,
            )
        )
    aspect_w, aspect_h = aspect(*_upright_size(data)) if callable(aspect) else aspect
    if aspect_w < 1 or aspect_h < 1:
        raise ValueError(f"aspect {aspect} must be a positive (width, height), e.g. (720, 480)")
    try:
        frame = decode_to_frame(data, aspect_w, aspect_h, max_pixels=max_pixels)
    except ImageRejected as exc:
        log.info("attachment that looks like %s did not decode: %s", fmt, exc)
        raise AttachmentRejected(
            _(
                "Your file looks like a {format} image but could not be read (it may be damaged or cut "
                "short); {send}.",
                format=fmt,
                send=send,
            )
        ) from None
    preview_w = min(PREVIEW_MAX_WIDTH, aspect_w)
    preview_h = max(1, round(preview_w * aspect_h / aspect_w))
    return AcceptedImage(
        png=encode_png(frame),
        width=frame.width,
        height=frame.height,
        preview_png=encode_png(fit_to_frame(frame, preview_w, preview_h)),
        source_format=fmt,
    )


def _upright_size(data: bytes) -> tuple[int, int]:
    """The picture's (width, height) as it is shown (EXIF rotations applied), from its header
    only: nothing is decoded. (1, 1) when the header cannot be read: decoding will say why."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            turned = image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
    except Exception:  # Pillow raises many kinds on a damaged header; decoding reports it properly
        return 1, 1
    return (height, width) if turned else (width, height)


def _sniff(data: bytes, send: str) -> str:
    """The format named by the file's first bytes: PNG, JPEG or WEBP, else a specific refusal."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        raise AttachmentRejected(
            _("GIFs are not supported (Reelbot animates one still picture); {send}.", send=send)
        )
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and b"<svg" in head:
        raise AttachmentRejected(
            _("SVG drawings are not supported; export it as a PNG and {send}.", send=send)
        )
    if data[4:8] == b"ftyp":
        if data[8:12] in _HEIF_BRANDS:
            raise AttachmentRejected(
                _(
                    "HEIC and AVIF photos are not supported (iPhones save HEIC by default: share the photo "
                    "as JPEG, or take a screenshot); {send}.",
                    send=send,
                )
            )
        raise AttachmentRejected(_("Videos are not supported as the starting picture; {send}.", send=send))
    for magic, name in ((b"%PDF-", "PDF"), (b"BM", "BMP"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF")):
        if data.startswith(magic):
            raise AttachmentRejected(_("{format} files are not supported; {send}.", format=name, send=send))
    raise AttachmentRejected(
        _(
            "That file is not an image Reelbot can read (whatever its name says, its contents are not); "
            "{send}.",
            send=send,
        )
    )


def _header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG or WEBP, or None where it cannot be read."""
    try:
        if fmt == "PNG":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack_from(">II", data, 16)
            return int(width), int(height)
        if fmt == "JPEG":
            return _jpeg_size(data)
        return _webp_size(data)
    except struct.error:  # cut short: let the decoder say so
        return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            offset += 2
        elif marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return int(width), int(height)
        else:
            (length,) = struct.unpack_from(">H", data, offset + 2)
            offset += 2 + int(length)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit width-1 and height-1
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L":  # lossless: 14-bit width-1 and height-1 after the 0x2f signature
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the key frame's start code
        width, height = struct.unpack_from("<HH", data, 26)
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


# ------------------------------------------------------------------------- messages


def _send_instead(max_bytes: int, max_pixels: int) -> str:
    """What to send instead: a clause of its own, after a semicolon, in every refusal."""
    side = math.isqrt(max_pixels)
    return _(
        "send a PNG, JPEG or WEBP under {limit} MiB and at most {side}x{side} pixels",
        limit=_mib_down(max_bytes),
        side=side,
    )


def _mib_up(size: int) -> str:
    """``size`` in MiB, rounded up to a tenth, so that a file just over a limit does not read as on it."""
    return f"{math.ceil(size * 10 / _MIB) / 10:g}"


def _mib_down(size: int) -> str:
    return f"{math.floor(size * 10 / _MIB) / 10:g}"
