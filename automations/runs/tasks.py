"""Thin Celery tasks: ids in, call execute or recovery, nothing clever.

Their names are pinned (routes.py) to where they were first defined, automations/tasks.py,
so that messages with the broker survive the move; their queues are routes.ROUTES's.
Nothing imports this module but Celery's autodiscovery and the app's ready(): runs are sent
by name through queue.py.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from automations.runs import execute, recovery
from automations.runs.claim import RunBusy
from automations.runs.queue import send_when_free, wait_for_slot
from automations.runs.routes import PROCESS_RUN, PROCESS_RUNS, RECOVER_RUNS

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
        send_when_free(run_id)
        return
    if not started:
        wait_for_slot(run_id)


@shared_task(name=PROCESS_RUNS, **RUN_TASK)
def process_runs(run_ids: list[int]) -> None:
    """The runs of one upload request, in one message: executed in batches. A run this
    worker could not start (another worker holds it, or its organization is at its limit
    of concurrent runs) goes back to the queue as its own message."""
    for run_id in execute.execute_runs(run_ids):
        wait_for_slot(run_id)


@shared_task(name=RECOVER_RUNS, ignore_result=True)
def recover_runs() -> dict:
    """Every minute (beat): runs of lost workers are queued again or failed with a reason,
    then runs stuck past the run time limit are failed (recovery.recover_runs)."""
    return recovery.recover_runs()
