"""The only sender of run tasks: after the transaction that made the runs has committed.

Tasks are sent by their pinned names (routes.py), to the queue the routing table gives
them; this module imports no task code, so that the tasks may use it to send again.
"""

from __future__ import annotations

import random

from celery import current_app
from django.conf import settings
from django.db import transaction

from automations.models import Run
from automations.runs.routes import PROCESS_RUN, PROCESS_RUNS

# A run whose organization is at its limit of running runs asks again after about this
# many seconds (with jitter). Its message stays with the broker until the run starts: the
# new one is sent before the old one is acknowledged, so a lost worker loses no run.
SLOT_WAIT_SECONDS = 10.0


def enqueue_run(run: Run) -> None:
    """Send the run to the workers once the transaction that created it has committed."""
    enqueue_runs([run])


def enqueue_runs(runs: list[Run]) -> None:
    """Send runs to the workers in one message once their transaction has committed; a
    worker executes them in batches (automations.runs.execute.execute_runs)."""
    ids = [run.pk for run in runs]
    if len(ids) == 1:
        transaction.on_commit(lambda: send(PROCESS_RUN, ids[0]))
    elif ids:
        transaction.on_commit(lambda: send(PROCESS_RUNS, ids))


def send_when_free(run_id: int) -> None:
    """Another worker holds this run; look again once its lease could have run out."""
    send(PROCESS_RUN, run_id, countdown=settings.PYQ_STEP_TIME_LIMIT + 60)


def wait_for_slot(run_id: int) -> None:
    """Ask again later for a run that waits for a slot of its organization."""
    if current_app.conf.task_always_eager:
        return  # executed inline (tests, one-off commands): it stays queued
    countdown = SLOT_WAIT_SECONDS * (1 + random.random() / 2)  # noqa: S311
    send(PROCESS_RUN, run_id, countdown=round(countdown, 1))


def send(name: str, *args, countdown: float | None = None) -> None:
    """Send the task called `name` with these arguments (routed by CELERY_TASK_ROUTES)."""
    options = {} if countdown is None else {"countdown": countdown}
    current_app.signature(name, args=args).apply_async(**options)
