"""Thin Celery tasks: ids in, call the processing module, nothing clever."""

import random

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from automations import processing

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)
# A run whose organization is at its limit of running runs asks again after about this
# many seconds (with jitter). Its message stays with the broker until the run starts: the
# new one is sent before the old one is acknowledged, so a lost worker loses no run.
SLOT_WAIT_SECONDS = 10.0

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


@shared_task(**RUN_TASK)
def process_run(run_id: int) -> None:
    try:
        started = processing.execute_run(run_id)
    except processing.RunBusy:
        # Another worker holds this run; look again once its lease could have run out.
        process_run.apply_async((run_id,), countdown=settings.PYQ_STEP_TIME_LIMIT + 60)
        return
    if not started:
        wait_for_slot(run_id)


def wait_for_slot(run_id: int) -> None:
    """Ask again later for a run that waits for a slot of its organization."""
    if process_run.app.conf.task_always_eager:
        return  # executed inline (tests, one-off commands): it stays queued
    countdown = SLOT_WAIT_SECONDS * (1 + random.random() / 2)  # noqa: S311
    process_run.apply_async((run_id,), countdown=round(countdown, 1))


@shared_task(ignore_result=True)
def recover_runs() -> dict:
    """Every minute (beat): runs of lost workers are queued again or failed with a reason."""
    return processing.recover_runs()


@shared_task(ignore_result=True)
def fail_stuck_runs() -> int:
    return processing.fail_stuck_runs()


@shared_task(**RUN_TASK)
def process_runs(run_ids: list[int]) -> None:
    """The runs of one upload request, in one message: executed in batches. A run this
    worker could not start (another worker holds it, or its organization is at its limit
    of concurrent runs) goes back to the queue as its own message."""
    for run_id in processing.execute_runs(run_ids):
        wait_for_slot(run_id)
