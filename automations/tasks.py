"""Thin Celery tasks: ids in, call the processing module, nothing clever."""

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from automations import processing

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)


@shared_task(
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_run(run_id: int) -> None:
    try:
        processing.execute_run(run_id)
    except processing.RunBusy:
        # Another worker holds this run; look again once its lease could have run out.
        process_run.apply_async((run_id,), countdown=settings.PYQ_STEP_TIME_LIMIT + 60)


@shared_task(ignore_result=True)
def fail_stuck_runs() -> int:
    return processing.fail_stuck_runs()
