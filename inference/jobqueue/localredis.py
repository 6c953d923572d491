"""Starting a private ``redis-server``: for ``reelbot run`` on one box, and for tests."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: The settings Reelbot needs (docs/REDIS.md): AOF every second, never evict a job.
DURABLE_ARGS = (
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--maxmemory-policy", "noeviction",
    "--save", "",
)  # fmt: skip


class RedisServer:
    """One ``redis-server`` process on loopback, with its data in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers.

        Raises:
            FileNotFoundError: redis-server is not installed.
            RuntimeError: it did not start in time (its log file is named).
        """
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(
                "redis-server is not installed: install Redis 7 (e.g. 'apt-get install redis-server') "
                "or set REDIS_URL to a running server"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.data_dir / "redis.log"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        command += ["--logfile", str(log_file), "--protected-mode", "yes", *DURABLE_ARGS, *self.extra_args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start; see {log_file}")
            if ping(self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout:g}s; see {log_file}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Redis flushes its AOF before it exits."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Crash stop (SIGKILL): whatever was not yet fsynced is lost."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)


@contextlib.asynccontextmanager
async def local_redis(environ: Mapping[str, str], data_dir: Path) -> AsyncIterator[None]:
    """Start a redis-server on 127.0.0.1:6379 when REDIS_URL is unset and none answers.

    For ``reelbot run`` and ``reelbot queue serve`` on one box; the server is stopped on exit.

    Raises:
        FileNotFoundError: one is needed and redis-server is not installed.
        RuntimeError: it did not start in time.
    """
    server = None
    if "REDIS_URL" not in environ and not ping(6379):
        # once, at start-up, before anything else runs on the loop
        server = RedisServer(data_dir.resolve() / "redis", 6379).start()  # noqa: ASYNC240
        log.info("started a local redis-server on 127.0.0.1:6379 (data in %s)", server.data_dir)
    try:
        yield
    finally:
        if server is not None:
            server.stop()


def ping(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
