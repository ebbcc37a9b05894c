"""A task for the broker outage test, imported by the worker it starts (`celery worker -I`):
it writes a file when done, so the test sees the work finish without a result backend."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task

TOUCH = "tests.outage.touch"


@shared_task(name=TOUCH)
def touch(path: str, seconds: float = 0.0) -> None:
    """Write `path`.started, wait `seconds` (a task still running while the broker goes away),
    then write `path`."""
    Path(f"{path}.started").write_text("started")
    time.sleep(seconds)
    Path(path).write_text("done")
