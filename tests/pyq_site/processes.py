"""Real processes for the tests of Pyq's start and of broker outages: a redis-server of the
test's own on a free loopback port (stopped and started again on the same port) and the
environment of a Pyq process with its own data folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import wait_for

__all__ = [
    "ROOT",
    "RedisServer",
    "alive",
    "free_port",
    "needs_redis_server",
    "pyq_environment",
    "wait_for",
]

REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed (apt-get install redis-server); "
    "this test starts and restarts a Redis of its own",
)
ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (a child already reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server on 127.0.0.1 only, without persistence, in `folder`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        options = {"port": str(self.port), "bind": "127.0.0.1", "save": "", "appendonly": "no"}
        argv = [REDIS_SERVER, "--dir", str(self.folder)]
        for name, value in options.items():
            argv += [f"--{name}", value]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, 10, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def pyq_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """This process's environment without Pyq's settings, with its own data folder; models
    are not preloaded (these tests never run one)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYQ_") and key != "DATABASE_URL"
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="pyq_site.settings",
        PYQ_DATA_DIR=str(data_dir),
        PYQ_PRELOAD_MODELS="false",
    )
    environment.update(variables)
    return environment
