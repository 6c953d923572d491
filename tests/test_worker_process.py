"""The daemon and the one-off commands as an admin runs them: separate processes, real signals."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from redis.asyncio import Redis

from inference.contract import EventType, GenerationSpec, JobStatus, ModelId
from inference.jobqueue import JobQueue, QueueSettings
from inference.jobqueue.localredis import free_port
from inference.metrics import HealthReport, HealthServer, PortInUse
from inference.video import probe_mp4
from tests.conftest import make_job
from tests.test_daemon import events_of

REELBOT = [sys.executable, "-c", "import sys; from inference.cli import main; sys.exit(main())"]


def env_for(settings: QueueSettings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "REELBOT_NAMESPACE": settings.namespace,
        "REELBOT_METRICS_PORT": "0",
        "REELBOT_LOG_LEVEL": "INFO",
        **extra,
    }


async def start_worker(model_dir: Path, settings: QueueSettings, **extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inference",
        "--model",
        str(model_dir),
        env=env_for(settings, **extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def wait_for_progress(redis: Redis, settings: QueueSettings, job_id: str) -> None:
    for _ in range(600):
        if any(e.type is EventType.PROGRESS for e in await events_of(redis, settings, job_id)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the worker never started rendering")


async def long_job(queue: JobQueue) -> str:
    record = make_job(model=ModelId.COGVIDEOX_5B)
    record = dataclasses.replace(
        record, spec=GenerationSpec(prompt="a long one", model=ModelId.COGVIDEOX_5B, steps=200)
    )
    return (await queue.enqueue(record)).job.id


@pytest.mark.parametrize(
    ("grace", "expected"),
    [("60", JobStatus.SUCCEEDED), ("0.2", JobStatus.QUEUED)],
    ids=["finishes-within-grace", "handed-back-after-grace"],
)
async def test_sigterm_mid_job(
    grace: str,
    expected: JobStatus,
    tiny_dirs: dict[str, Path],
    queue: JobQueue,
    redis: Redis,
    settings: QueueSettings,
) -> None:
    job_id = await long_job(queue)
    worker = await start_worker(tiny_dirs["5b"], settings, REELBOT_GRACE_SECONDS=grace)
    try:
        await wait_for_progress(redis, settings, job_id)
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=120)
    finally:
        if worker.returncode is None:
            worker.kill()
    assert worker.returncode == 0, output.decode()
    final = await queue.get(job_id)
    assert final.status is expected
    if expected is JobStatus.QUEUED:
        assert final.attempts == 0 and final.worker_id is None  # back in line, the attempt not counted
        assert b"handed back" in output
        assert (await queue.lane_stats(ModelId.COGVIDEOX_5B.value)).depth == 1


def test_unknown_model_is_refused_at_start() -> None:
    done = subprocess.run(
        [*REELBOT, "worker", "--model", "cogvideox-9b"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "unknown model 'cogvideox-9b'" in done.stderr and "cogvideox-2b" in done.stderr


def test_make_tiny_model_and_generate(tmp_path: Path, settings: QueueSettings) -> None:
    env = env_for(settings)
    made = subprocess.run(
        [*REELBOT, "make-tiny-model", str(tmp_path / "i2v"), "--i2v"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "i2v" / "model_index.json").is_file()
    picture = tmp_path / "cat.jpg"
    Image.new("RGB", (800, 600), "teal").save(picture)
    out = tmp_path / "clip.mp4"
    seed = ["--seed", "42", "-o", str(out)]
    done = subprocess.run(
        [
            *REELBOT,
            "generate",
            "a cat wakes up",
            "--image",
            str(picture),
            "--model",
            str(tmp_path / "i2v"),
            *seed,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    info = probe_mp4(out.read_bytes())
    assert (info.frames, info.width, info.height, info.fps) == (9, 96, 64, 8.0)
    assert info.metadata["reelbot_seed"] == "42" and info.metadata["reelbot_model"] == "cogvideox-5b-i2v"
    assert "step 4/4" in done.stderr and f"wrote {out}" in done.stderr


def test_generate_explains_a_model_mismatch(
    tmp_path: Path, tiny_dirs: dict[str, Path], settings: QueueSettings
) -> None:
    picture = tmp_path / "cat.png"
    Image.new("RGB", (64, 64)).save(picture)
    done = subprocess.run(
        [*REELBOT, "generate", "x", "--image", str(picture), "--model", str(tiny_dirs["2b"])],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_for(settings),
    )
    assert done.returncode == 1
    assert "--image needs an image-to-video model" in done.stderr


async def test_a_second_worker_on_a_taken_metrics_port_says_so_in_one_line_and_exits_2(
    tiny_dirs: dict[str, Path], settings: QueueSettings
) -> None:
    port = str(free_port())
    first = await start_worker(tiny_dirs["2b"], settings, REELBOT_METRICS_PORT=port)
    try:
        for _ in range(600):  # the first one serves /healthz once its model is loaded
            if await asyncio.to_thread(healthz, int(port)):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the first worker never served /healthz")
        second = await start_worker(tiny_dirs["2b"], settings, REELBOT_METRICS_PORT=port)
        output, _ = await asyncio.wait_for(second.communicate(), timeout=120)
        text = output.decode()
        assert second.returncode == 2, text
        assert "Traceback" not in text, text
        [line] = [line for line in text.splitlines() if line.startswith("reelbot:")]
        assert line.startswith(f"reelbot: cannot start: REELBOT_METRICS_PORT={port}: "), line
        assert "in use" in line and "its own REELBOT_METRICS_PORT" in line, line
        assert first.returncode is None and await asyncio.to_thread(healthz, int(port))
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(), timeout=60)


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


async def test_a_taken_health_port_is_reported_and_the_first_server_keeps_serving() -> None:
    async def report() -> HealthReport:
        return True, {"status": "ok"}

    first = HealthServer(report, lambda: b"", "127.0.0.1", 0, setting="REELBOT_METRICS_PORT")
    port = await first.start()
    second = HealthServer(report, lambda: b"", "127.0.0.1", port, setting="REELBOT_METRICS_PORT")
    try:
        with pytest.raises(
            PortInUse, match=f"^REELBOT_METRICS_PORT={port}: port {port} on 127.0.0.1 is in use"
        ):
            await second.start()
        assert await asyncio.to_thread(healthz, port)
    finally:
        await first.stop()
        await second.stop()
