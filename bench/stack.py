"""A whole Pyq (web server, Celery worker, a database and broker) in a temporary folder, for
benchmarks that go through the API and the queue as a customer's request does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """Starts `gunicorn` and `celery worker` against a fresh data folder; stop() ends them.

    DATABASE_URL and PYQ_BROKER_URL are taken from the environment when set (PostgreSQL and
    Redis); otherwise SQLite and the filesystem broker in the temporary folder.
    With probe=True the web server and the worker run with bench/probe.py's timers, which
    write into the folder ``probe_dir``.
    """

    def __init__(
        self, concurrency: int = 1, torch_threads: int | None = None, probe: bool = False
    ) -> None:
        self.dir = tempfile.mkdtemp(prefix="pyq-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYQ_DATA_DIR": self.dir,
            "PYQ_ALLOWED_HOSTS": "127.0.0.1",
            "PYQ_MAX_FILES_PER_UPLOAD": "100",
            # A bench client calls and polls faster than the API's limits for one key allow
            "PYQ_API_RATE_PER_KEY": "off",
            "PYQ_API_RATE_PER_ORG": "off",
            "PYTHONUNBUFFERED": "1",
        }
        if torch_threads:
            self.env["PYQ_TORCH_THREADS"] = str(torch_threads)
        self.concurrency = concurrency
        self.procs: list[subprocess.Popen] = []
        self.probe_dir: Path | None = None
        if probe:
            self.probe_dir = Path(self.dir) / "probe"
            self.probe_dir.mkdir()
            self.env["PYQ_BENCH_PROBE_DIR"] = str(self.probe_dir)

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self) -> Stack:
        self._fresh_database()
        self.manage("migrate", "--noinput")
        self.worker_log = Path(self.dir) / "worker.log"
        with self.worker_log.open("w") as log:
            self.procs.append(
                self._spawn(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "bench.probe" if self.probe_dir else "pyq_site",
                        "worker",
                        "-Q",
                        "default,ml",
                        "--concurrency",
                        str(self.concurrency),
                        "--loglevel",
                        "INFO",
                    ],
                    log,
                )
            )
        with (Path(self.dir) / "web.log").open("w") as log:
            self.procs.append(
                self._spawn(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "bench.probe:application" if self.probe_dir else "pyq_site.wsgi",
                        "-w",
                        "1",
                        "--threads",
                        "4",
                        "-b",
                        f"127.0.0.1:{self.port}",
                    ],
                    log,
                )
            )
        self._wait(lambda: "ready." in self.worker_log.read_text(), "the worker")
        # Every worker process has loaded MiniLM (PYQ_PRELOAD_MODELS) before the clock runs.
        self._wait(
            lambda: self.worker_log.read_text().count("preloaded MiniLM") >= self.concurrency,
            "the workers' models",
        )
        self._wait(self._web_up, "the web server")
        return self

    def _fresh_database(self) -> None:
        """On PostgreSQL, a new database for this run (dropped by stop())."""
        url = self.env.get("DATABASE_URL", "")
        self.database = None
        if not url.startswith("postgres"):
            return
        import psycopg

        base, _, _ = url.rpartition("/")
        self.database = f"pyq_bench_{os.getpid()}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.database}")
            conn.execute(f"CREATE DATABASE {self.database}")
        self.admin_url = f"{base}/postgres"
        self.env["DATABASE_URL"] = f"{base}/{self.database}"

    def _spawn(self, argv: list[str], log) -> subprocess.Popen:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _web_up(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    @staticmethod
    def _wait(ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start in {timeout} s")
            time.sleep(0.2)

    @property
    def worker_pid(self) -> int:
        return self.procs[0].pid

    def api_key(self) -> str:
        """An organization with an API key, made in the stack's database."""
        script = (
            "from accounts.models import *; "
            "u = User.objects.create_user('bench@pyq.local', 'x'); "
            "o = Organization.create_for(u, 'Bench'); "
            "print(ApiKey.issue(o, u, 'bench')[1])"
        )
        return self.manage("shell", "-c", script).strip().splitlines()[-1]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.database:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
