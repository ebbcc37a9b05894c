"""The only sender of run tasks: after the transaction that made the runs has committed.

A run committed as queued is the source of truth (an outbox); its message is only a nudge
to the workers. A nudge that cannot be sent (the broker is down) is logged and the runs are
marked as owed one (nudged_at = None); it never fails the request or the task that made
them. The sweeper (recovery.sweep, on the beat and when a worker starts) sends what is owed.

Tasks are sent by their pinned names (routes.py), to the queue the routing table gives
them; this module imports no task code, so that the tasks may use it to send again.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Sequence

from celery import current_app
from django.conf import settings
from django.db import transaction

from automations.models import Run
from automations.runs.routes import PROCESS_RUN, PROCESS_RUNS

log = logging.getLogger(__name__)

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
    if ids:
        transaction.on_commit(functools.partial(nudge, ids))


def nudge_in_batches(run_ids: Sequence[int]) -> None:
    """Nudge runs once their transaction has committed, one message per worker batch
    (PYQ_BATCH_SIZE runs): what the sweeper sends, so that several workers share them."""
    size = settings.PYQ_BATCH_SIZE
    for start in range(0, len(run_ids), size):
        transaction.on_commit(functools.partial(nudge, list(run_ids[start : start + size])))


def nudge(run_ids: list[int]) -> bool:
    """Send one message for these runs (process_run for one, process_runs for several).
    When the broker cannot be reached, log it, mark the runs that are still queued as owed
    a nudge for the sweeper, and return False: the runs stay queued, nothing is lost."""
    try:
        if len(run_ids) == 1:
            send(PROCESS_RUN, run_ids[0])
        else:
            send(PROCESS_RUNS, run_ids)
    except Exception:  # any broker error: the queued runs are the record, the sweeper sends
        log.warning(
            "could not send runs %s to the workers; the sweeper will", run_ids, exc_info=True
        )
        _owe(run_ids)
        return False
    return True


def _owe(run_ids: list[int]) -> None:
    """Mark queued runs as owed a nudge, for the sweeper's next round. Should the database
    fail too, they keep their time of nudge, and the sweeper sends them when it is old."""
    try:
        Run.objects.filter(pk__in=run_ids, status=Run.Status.QUEUED).update(nudged_at=None)
    except Exception:
        log.warning("could not mark runs %s as owed a nudge", run_ids, exc_info=True)


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
