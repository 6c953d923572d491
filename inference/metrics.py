"""The worker's health and Prometheus metrics, served by aiohttp on ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import errno
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600)
_WAIT_BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


class WorkerMetrics:
    """The counters one worker keeps; each worker has its own registry."""

    def __init__(self, gpu_memory: Callable[[], dict[str, float]] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Counter(
            "reelbot_worker_jobs", "Jobs ended, by model and outcome", ["model", "outcome"], registry=r
        )
        self.job_seconds = Histogram(
            "reelbot_worker_job_seconds",
            "Seconds from claim to recorded outcome",
            ["model"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.steps_per_second = Gauge(
            "reelbot_worker_steps_per_second",
            "Denoising steps per second of the last clip",
            ["model"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "reelbot_worker_queue_wait_seconds",
            "Seconds a job waited in the queue before this worker started it",
            ["model"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.running = Gauge("reelbot_worker_running_jobs", "Jobs rendering now", registry=r)
        self.gpu_memory = Gauge(
            "reelbot_worker_gpu_memory_bytes", "GPU memory: allocated, reserved, peak", ["kind"], registry=r
        )
        self._gpu_memory = gpu_memory

    def render(self) -> bytes:
        """The exposition text, with GPU memory read at scrape time."""
        if self._gpu_memory is not None:
            for kind, value in self._gpu_memory().items():
                self.gpu_memory.labels(kind).set(value)
        return generate_latest(self.registry)


def cuda_memory() -> dict[str, float]:
    """Allocated, reserved and peak bytes on the current CUDA device."""
    import torch

    return {
        "allocated": float(torch.cuda.memory_allocated()),
        "reserved": float(torch.cuda.memory_reserved()),
        "peak": float(torch.cuda.max_memory_allocated()),
    }


@dataclass
class Health:
    """What ``/healthz`` reports; the daemon updates it."""

    worker_id: str
    models: Sequence[str]
    device: str
    started: float = field(default_factory=time.time)
    #: last time the worker loop talked to Redis successfully
    last_contact: float = field(default_factory=time.time)
    stuck: str | None = None
    stopping: bool = False
    #: a worker that has not reached Redis for this long is unhealthy
    contact_limit: float = 60.0
    #: the speed preset and levers the models run with (inference/speed.py)
    speed: dict[str, Any] | None = None

    def report(self) -> tuple[bool, dict[str, Any]]:
        silent = time.time() - self.last_contact
        problems = []
        if self.stuck:
            problems.append(self.stuck)
        if silent > self.contact_limit:
            problems.append(f"no contact with Redis for {silent:.0f} s")
        if self.stopping:
            problems.append("stopping")
        body = {
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "worker_id": self.worker_id,
            "models": list(self.models),
            "device": self.device,
            "speed": self.speed,
            "uptime_seconds": round(time.time() - self.started, 1),
        }
        return not problems, body


#: what ``/healthz`` answers: healthy or not, and the JSON body
HealthReport = tuple[bool, dict[str, Any]]


class PortInUse(Exception):
    """The health and metrics port is taken, most often by another worker on the same machine.

    The message is one line that names the setting to change; the CLI prints it and exits with 2.
    """


class HealthServer:
    """Serves ``/healthz`` (200 or 503, JSON, from ``report``) and ``/metrics`` (``render``) on
    ``host:port``; the worker and the bot each run one."""

    def __init__(
        self,
        report: Callable[[], Awaitable[HealthReport]],
        render: Callable[[], bytes],
        host: str,
        port: int,
        *,
        setting: str | None = None,
    ) -> None:
        self.report, self.render, self.host, self.port = report, render, host, port
        #: the variable that sets ``port``, named when the port is taken
        self.setting = setting
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start serving; returns the bound port (useful with port 0).

        Raises:
            PortInUse: something else listens on ``host:port`` (another worker, most often).
        """
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            if exc.errno != errno.EADDRINUSE:
                raise
            # a second worker on one machine: each needs its own port (docs/INFERENCE.md)
            named = f"{self.setting}={self.port}: " if self.setting else ""
            raise PortInUse(
                f"{named}port {self.port} on {self.host} is in use (another worker on this machine?); "
                f"give each worker its own {self.setting or 'metrics port'} (or 0 to turn /healthz "
                "and /metrics off)"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, body = await self.report()
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
