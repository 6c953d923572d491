"""Input images: how many bytes the bot stores per upload, and the bot's peak memory while it
accepts the worst images the limits allow, several at once.

    python bench/images.py --json after.json            # the full run, a Markdown table
    python bench/images.py --tiny                       # a few seconds, for the smoke test
    python bench/images.py --compare before.json after.json   # two runs side by side

Real parts: the bot's :class:`bot.attachments.ImageFetcher` (aiohttp, the checks, the decode in
a thread, the re-encode) fetching from a local aiohttp server that stands in for Discord's CDN,
in the same process, as ``/video`` calls it: ``fetcher(attachment, (width, height))``.

**Stored bytes.** Four uploads, generated with a fixed seed: a noisy 4096x4096 JPEG (about
5.5 MiB), a 3840x2160 PNG render (about 8 MiB), a 4032x3024 phone photo (JPEG, EXIF
Orientation=6, about 3 MiB) and the worst case for memory, a 4096x4096 RGBA PNG of one colour
(about 64 KiB). Each is accepted for the 720x480 and the 1360x768 frame; the row gives the
stored PNG's bytes and size, and the median time of one acceptance over the repeats.

**Peak memory.** Each case runs in a fresh subprocess: imports, the server, the HTTP session and
one small warm-up acceptance first, then the idle RSS (``VmRSS``); then N acceptances of the same
upload are started at once, and the peak is ``VmHWM`` afterwards (the kernel's high-water mark of
the process's RSS; ``getrusage``'s ``ru_maxrss`` would not do: a process started by vfork and
exec keeps its parent's peak there). The figure is the peak minus idle: what the bot's process
needs on top of its resting size.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import gc
import io
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web
from PIL import Image

from bot.attachments import AttachmentInfo, ImageFetcher

MIB = 1024 * 1024
FRAMES = ((720, 480), (1360, 768))
#: the stored input's budget for a 720x480 frame, in proportion to the pixels for larger ones
BUDGET_BYTES_720x480 = 1_500_000


# ------------------------------------------------------------------------------ uploads


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _waves(width: int, height: int, scale: float) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / scale
    return np.stack(
        [
            128 + 100 * np.sin(x / 300) * np.cos(y / 200),
            128 + 100 * np.sin((x + y) / 500),
            128 + 90 * np.cos(x / 170 - y / 260),
        ],
        -1,
    )


def _noisy(base: np.ndarray, sigma: float, rng: np.random.Generator) -> Image.Image:
    return Image.fromarray(np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8))


def make_uploads(tiny: bool) -> dict[str, bytes]:
    """The benchmark's uploads by name (a tenth of the side with ``tiny``)."""
    rng = np.random.default_rng(7)
    k = 10 if tiny else 1
    side = 4096 // k
    y, x = np.mgrid[0:side, 0:side]
    gradient = np.stack([x * 255 // side, y * 255 // side, (x + y) * 255 // (2 * side)], -1)
    photo = _noisy(_waves(4032 // k, 3024 // k, 1 / k), 8, rng)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show it rotated 90 degrees clockwise
    return {
        "noisy JPEG": _encode(_noisy(gradient, 20, rng), "JPEG", quality=83),
        "large PNG": _encode(_noisy(_waves(3840 // k, 2160 // k, 1 / k), 0.7, rng), "PNG"),
        "phone photo (JPEG, Orientation=6)": _encode(photo, "JPEG", quality=90, exif=exif),
        "worst case (RGBA PNG, one colour)": _encode(
            Image.new("RGBA", (side, side), (40, 160, 90, 200)), "PNG"
        ),
    }


# ------------------------------------------------------------------ a stand-in for the CDN


@dataclass(frozen=True)
class Cdn:
    """A local server for some uploads: the origin to allow and each upload as an attachment."""

    origin: str
    sizes: dict[str, int]
    keys: dict[str, str]

    def attachment(self, name: str) -> AttachmentInfo:
        return AttachmentInfo(f"{self.origin}/files/{self.keys[name]}", "upload", self.sizes[name], None)

    def fetcher(self) -> ImageFetcher:
        return ImageFetcher([self.origin], 10 * MIB)  # the deployment's default limit


@asynccontextmanager
async def cdn(uploads: dict[str, bytes]) -> AsyncIterator[Cdn]:
    """A local stand-in for Discord's CDN serving ``uploads``, for as long as the block lasts."""
    keys = {name: f"upload{i}" for i, name in enumerate(uploads)}
    bodies = {keys[name]: data for name, data in uploads.items()}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["key"]], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/files/{key}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield Cdn(origin, {name: len(data) for name, data in uploads.items()}, keys)
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- stored bytes


async def stored_rows(uploads: dict[str, bytes], repeats: int) -> list[dict[str, Any]]:
    """One row per upload and frame: bytes in, bytes stored, and the time one acceptance takes."""
    rows = []
    async with cdn(uploads) as server:
        fetcher = server.fetcher()
        try:
            for name, data in uploads.items():
                for frame in FRAMES:
                    rows.append(await _stored_row(fetcher, server.attachment(name), frame, repeats))
                    rows[-1].update(upload=name, ratio=rows[-1]["stored_bytes"] / len(data))
        finally:
            await fetcher.aclose()
    return rows


async def _stored_row(
    fetcher: ImageFetcher, attachment: AttachmentInfo, frame: tuple[int, int], repeats: int
) -> dict[str, Any]:
    times, stored = [], b""
    for _ in range(repeats):
        started = time.perf_counter()
        stored = (await fetcher(attachment, frame)).png
        times.append((time.perf_counter() - started) * 1000)
    with Image.open(io.BytesIO(stored)) as image:
        width, height = image.size
    return {
        "upload_bytes": attachment.size,
        "frame": f"{frame[0]}x{frame[1]}",
        "stored_bytes": len(stored),
        "stored_size": f"{width}x{height}",
        "budget_bytes": BUDGET_BYTES_720x480 * frame[0] * frame[1] // (720 * 480),
        "median_ms": statistics.median(times),
    }


# ---------------------------------------------------------------------------- peak memory


def _status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status (this measurement needs Linux)")


async def _child(data: bytes, concurrent: int) -> dict[str, Any]:
    """In the subprocess: accept ``concurrent`` copies of ``data`` at once."""
    warm = _encode(Image.new("RGBA", (64, 64), (1, 2, 3, 4)), "PNG")
    async with cdn({"warm-up": warm, "upload": data}) as server:
        fetcher = server.fetcher()
        try:
            await fetcher(server.attachment("warm-up"), (720, 480))
            gc.collect()
            idle = _status_mib("VmRSS")
            started = time.perf_counter()
            upload = server.attachment("upload")
            done = await asyncio.gather(*(fetcher(upload, (720, 480)) for _ in range(concurrent)))
            wall = (time.perf_counter() - started) * 1000
        finally:
            await fetcher.aclose()
    # not getrusage's ru_maxrss: after a vfork and exec it still holds the parent's peak
    peak = _status_mib("VmHWM")
    return {
        "idle_mib": idle,
        "peak_mib": peak,
        "above_idle_mib": peak - idle,
        "wall_ms": wall,
        "ok": len(done),
    }


def memory_row(name: str, data: bytes, concurrent: int) -> dict[str, Any]:
    """Peak RSS above idle while ``concurrent`` copies of ``data`` are accepted, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        command = [sys.executable, __file__, "--child", str(path), "--concurrent", str(concurrent)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory run failed:\n{done.stderr}")
    return {"upload": name, "upload_bytes": len(data), "concurrent": concurrent, **json.loads(done.stdout)}


# ------------------------------------------------------------------------------- report


def run(args: argparse.Namespace) -> dict[str, Any]:
    uploads = make_uploads(args.tiny)
    repeats = 1 if args.tiny else args.repeats
    rows = asyncio.run(stored_rows(uploads, repeats))
    memory = [
        memory_row(name, uploads[name], n)
        for name, n in (
            ("worst case (RGBA PNG, one colour)", 1),
            ("worst case (RGBA PNG, one colour)", args.concurrent),
            ("noisy JPEG", args.concurrent),
        )
    ]
    return {"label": args.label, "tiny": args.tiny, "repeats": repeats, "stored": rows, "memory": memory}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Stored input per upload ({result['label']}, median of {result['repeats']}):",
        "",
        "| upload | upload bytes | frame | stored bytes | stored size | stored / upload | budget | ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["stored"]:
        lines.append(
            f"| {r['upload']} | {r['upload_bytes']:,} | {r['frame']} | {r['stored_bytes']:,} | "
            f"{r['stored_size']} | {r['ratio']:.2f}x | {r['budget_bytes']:,} | {r['median_ms']:.0f} |"
        )
    lines += ["", "Peak RSS above idle:", "", "| upload | at once | idle MiB | above idle MiB | wall ms |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for m in result["memory"]:
        lines.append(
            f"| {m['upload']} | {m['concurrent']} | {m['idle_mib']:.0f} | {m['above_idle_mib']:.0f} | "
            f"{m['wall_ms']:.0f} |"
        )
    return "\n".join(lines)


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Two runs' figures side by side (rows matched by upload and frame, or upload and count)."""
    b, a = before["label"], after["label"]
    lines = [
        f"| upload | frame | {b} stored bytes | {a} stored bytes | {a} size | {b} ms | {a} ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    old = {(r["upload"], r["frame"]): r for r in before["stored"]}
    for r in after["stored"]:
        o = old[(r["upload"], r["frame"])]
        lines.append(
            f"| {r['upload']} ({r['upload_bytes']:,} B) | {r['frame']} | {o['stored_bytes']:,} "
            f"({o['ratio']:.2f}x) | {r['stored_bytes']:,} ({r['ratio']:.2f}x) | {r['stored_size']} | "
            f"{o['median_ms']:.0f} | {r['median_ms']:.0f} |"
        )
    lines += [
        "",
        f"| upload | at once | {b} MiB above idle | {a} MiB above idle | {b} wall ms | {a} wall ms |",
    ]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    old_memory = {(m["upload"], m["concurrent"]): m for m in before["memory"]}
    for m in after["memory"]:
        o = old_memory[(m["upload"], m["concurrent"])]
        lines.append(
            f"| {m['upload']} | {m['concurrent']} | {o['above_idle_mib']:.0f} | {m['above_idle_mib']:.0f} | "
            f"{o['wall_ms']:.0f} | {m['wall_ms']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="acceptances of each upload (medians reported)"
    )
    parser.add_argument("--concurrent", type=int, default=8, help="acceptances at once in the memory run")
    parser.add_argument(
        "--tiny", action="store_true", help="small uploads, one repeat: a few seconds, for CI"
    )
    parser.add_argument("--label", default="this tree", help="the name of this run in the tables")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"), help="two --json files")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child.read_bytes(), args.concurrent))))
        return
    if args.compare:
        print(compare(*(json.loads(path.read_text()) for path in args.compare)))
        return
    result = run(args)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
