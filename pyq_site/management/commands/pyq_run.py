"""Start the web server, a Celery worker and celery beat together; Ctrl-C stops all three.

A child that exits on its own is started again with a growing pause and said in the log
(pyq_site/supervisor.py): a worker that died on a broker outage, or beat, does not stop Pyq."""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from pyq_site.memory import apply_memory_limit
from pyq_site.supervisor import Supervisor

GUNICORN_CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
SERVERS = ("django", "gunicorn")


def web_command(address: str, server: str = "django") -> list[str]:
    """Django's development server (``make run``), or gunicorn for production with the
    settings of pyq_site/gunicorn.conf.py (workers, timeouts, request limits)."""
    python = sys.executable
    if server == "gunicorn":
        return [python, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--bind", address]
    return [python, "manage.py", "runserver", address, "--noreload"]


def commands(address: str, concurrency: int, server: str = "django") -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": web_command(address, server),
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "pyq_site",
            "worker",
            "-Q",
            "default,ml,training",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "-n",
            "pyq@%h",
        ],
        "beat": [python, "-m", "celery", "-A", "pyq_site", "beat", "--loglevel", "INFO"],
    }


def memory_limit_for(name: str):
    """What caps a started process's memory before it runs (README "Security"): the web
    server gets PYQ_WEB_MAX_MEMORY_MB; workers are capped by Celery's max memory per child."""
    if name != "web" or settings.PYQ_WEB_MAX_MEMORY_MB <= 0:
        return None
    return functools.partial(apply_memory_limit, settings.PYQ_WEB_MAX_MEMORY_MB)


class Command(BaseCommand):
    help = "Run Pyq on one machine: web server, Celery worker and celery beat."

    def add_arguments(self, parser):
        parser.add_argument("--address", default=os.environ.get("PYQ_ADDRESS", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=min(2, os.cpu_count() or 1))
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default=os.environ.get("PYQ_WEB_SERVER", "django"),
            help="web server: Django's development server (default) or gunicorn",
        )

    def handle(self, *args, address: str, concurrency: int, server: str = "django", **options):
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor = Supervisor(
            commands(address, concurrency, server), self.say, preexec_for=memory_limit_for
        )
        self.stdout.write(
            self.style.SUCCESS(f"Pyq is running on http://{address}  (Ctrl-C stops it)")
        )
        supervisor.run(lambda: stopping)
        self.stdout.write("Pyq stopped.")

    def say(self, line: str) -> None:
        """What the supervisor does, in the terminal of `make run`."""
        self.stderr.write(f"pyq_run: {line}")
