"""Thin Celery tasks: ids in, call execute or recovery, nothing clever.

Their names are pinned (routes.py) to where they were first defined, automations/tasks.py,
so that messages with the broker survive the move; their queues are routes.ROUTES's.
Nothing imports this module but Celery's autodiscovery and the app's ready(): runs are sent
by name through queue.py. A worker that starts runs the sweeper once (sweep_on_start).
"""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, connections

from automations.runs import execute, recovery
from automations.runs.claim import RunBusy
from automations.runs.queue import wait_for_slot
from automations.runs.routes import PROCESS_RUN, PROCESS_RUNS, RECOVER_RUNS

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)

# Tasks that execute runs: retried with backoff on a passing database or broker error,
# acknowledged only once done, so that a lost worker's message is delivered again.
RUN_TASK = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(name=PROCESS_RUN, **RUN_TASK)
def process_run(run_id: int) -> None:
    try:
        started = execute.execute_run(run_id)
    except RunBusy:
        return  # a live worker holds it; should that worker die, the sweeper takes it over
    if not started:
        wait_for_slot(run_id)


@shared_task(name=PROCESS_RUNS, **RUN_TASK)
def process_runs(run_ids: list[int]) -> None:
    """The runs of one upload request, or of one of the sweeper's batches, in one message:
    executed in batches. A run a live worker holds is left to it; a run whose worker is
    gone is taken over; a run whose organization is at its limit of concurrent runs goes
    back to the queue as its own message."""
    for run_id in execute.execute_runs(run_ids):
        wait_for_slot(run_id)


@shared_task(name=RECOVER_RUNS, ignore_result=True)
def recover_runs() -> dict:
    """The sweeper, every routes.SWEEP_SECONDS (beat): runs of lost workers are queued again or
    failed with a reason, queued runs owed a message are sent, and runs stuck past the run
    time limit are failed (recovery.sweep)."""
    return recovery.sweep()


@worker_ready.connect
def sweep_on_start(**_) -> None:
    """When a worker starts, sweep at once, and nudge every queued run: a worker that starts
    is often the one that replaces a killed one, whose runs its own machine knows are gone
    and whose messages the embedded broker lost with it. Runs in the worker's main process,
    so its database connection is closed again before the pool forks new children."""
    try:
        result = recovery.sweep(renudge_after=0)
        log.info("sweep on start: %s", result)
    except Exception:  # the database or broker is not there yet: the beat sweeps soon
        log.warning("the sweep on start failed", exc_info=True)
    finally:
        connections.close_all()
