"""Runs whose worker was lost: leases renewed while a worker executes them, and the sweeper.

While a worker executes runs, a background thread renews their lease (Heartbeat). A run left
"running" whose lease ran out, or whose holder was a process of this machine that is gone,
lost its worker (killed, out of memory, machine gone). The sweeper (sweep: on the beat
every routes.SWEEP_SECONDS and when a worker starts) queues such runs again, so that they
resume after their last finished step, or fails one started MAX_RUN_ATTEMPTS times with a
reason; and it nudges queued runs whose message was never sent (the broker was down) or
may have been lost, one message per worker batch. Also here: ending a run and its running
steps (finish), for the executor and the sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from automations.engine.pipeline import log_line
from automations.models import Run, StepRun
from automations.runs.claim import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    MAX_RUN_ATTEMPTS,
    QUEUE_ORDER,
    held,
    holder_gone,
    legacy_lease,
    worker_name,
)
from automations.runs.queue import nudge_in_batches
from automations.runs.routes import REDELIVER_SECONDS

log = logging.getLogger(__name__)

# A queued run whose message went out this long ago is nudged again: on Redis a message a
# lost worker had taken is back by then (the visibility timeout); on the embedded broker
# it is gone with the worker. Earlier would only send copies of messages still waiting.
RENUDGE_SECONDS = REDELIVER_SECONDS


class Heartbeat:
    """Renews the lease of the runs a worker executes, from a background thread, so that a
    long step (a batch of model calls, a webhook's retries) is never taken for a lost
    worker. Only this process's own claims are renewed: a run another worker took over is
    left to it. The thread dies with the process: a killed worker's leases run out within
    LEASE_SECONDS and the sweeper queues its runs again. It stops renewing at the task's
    hard time limit, so a run that somehow goes on past it is recovered too."""

    def __init__(self, run_ids: list[int], interval: float | None = None) -> None:
        self.run_ids = run_ids
        self.interval = interval or HEARTBEAT_SECONDS
        self.deadline = time.monotonic() + settings.PYQ_RUN_TIME_LIMIT + 60
        self.worker = worker_name()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.run_ids:
            self.thread = threading.Thread(target=self._beat, name="pyq-heartbeat", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(self.interval) and time.monotonic() < self.deadline:
                try:
                    renew(self.run_ids, self.worker)
                except Exception:  # a busy database: the next beat tries again
                    log.warning("heartbeat of runs %s failed", self.run_ids, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only


def renew(run_ids: list[int], worker: str) -> int:
    """Renew the lease of the running runs that `worker` holds; returns how many."""
    now = timezone.now()
    return Run.objects.filter(pk__in=run_ids, status=Run.Status.RUNNING, worker=worker).update(
        heartbeat_at=now, lease_until=now + timedelta(seconds=LEASE_SECONDS)
    )


def fail_running_steps(run: Run, message: str) -> None:
    now = timezone.now()
    for step in run.steps.filter(status=StepRun.Status.RUNNING):
        step.status, step.error, step.finished_at = StepRun.Status.FAILED, message, now
        step.log = [*step.log, log_line("error", f"Failed: {message}")]
        step.save(update_fields=["status", "error", "finished_at", "log"])


def finish(run: Run, status: str, error: str = "") -> None:
    """End a running run; one canceled meanwhile stays canceled."""
    changes = {"status": status, "error": error, "finished_at": timezone.now()}
    if status == Run.Status.SUCCEEDED:
        changes["pages_done"] = run.pages_total
    if Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(**changes):
        for name, value in changes.items():
            setattr(run, name, value)


def finish_succeeded(runs: list[Run]) -> None:
    """End runs that succeeded, in one query (one canceled meanwhile stays canceled)."""
    if not runs:
        return
    now = timezone.now()
    Run.objects.filter(pk__in=[run.pk for run in runs], status=Run.Status.RUNNING).update(
        status=Run.Status.SUCCEEDED, error="", finished_at=now, pages_done=F("pages_total")
    )
    for run in runs:
        run.status, run.error, run.finished_at = Run.Status.SUCCEEDED, "", now
        run.pages_done = run.pages_total


def recover_orphaned_runs(now: datetime | None = None) -> dict[str, list[int]]:
    """Queue again the runs whose worker was lost (running, and no live worker holds them:
    claim.held), one message per worker batch, so that they resume after their last
    finished step; a run already started MAX_RUN_ATTEMPTS times is failed with a reason
    instead. Returns the ids, as {"requeued": [...], "failed": [...]}."""
    now = now or timezone.now()
    result: dict[str, list[int]] = {"requeued": [], "failed": []}
    for run_id in _maybe_lost(now):
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).first()
            if run is None or run.status != Run.Status.RUNNING or held(run, now):
                continue  # finished, or its worker came back to life meanwhile
            if run.attempts >= MAX_RUN_ATTEMPTS:
                message = _lost_message(run)
                fail_running_steps(run, message)
                finish(run, Run.Status.FAILED, message)
                result["failed"].append(run.pk)
                continue
            Run.objects.filter(pk=run.pk).update(
                status=Run.Status.QUEUED,
                heartbeat_at=None,
                worker="",
                lease_until=None,
                nudged_at=now,
            )
            result["requeued"].append(run.pk)
    nudge_in_batches(result["requeued"])
    if result["requeued"] or result["failed"]:
        log.warning("orphaned runs: %s", result)
    return result


def _maybe_lost(now: datetime) -> list[int]:
    """Running runs that may have lost their worker: the lease ran out (or, claimed before
    leases, the heartbeat is older than the legacy lease), or the holder was a process of
    this machine that is gone."""
    running = Run.objects.filter(status=Run.Status.RUNNING)
    expired = Q(lease_until__lt=now) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - legacy_lease()),
        lease_until__isnull=True,
    )
    ids = set(running.filter(expired).values_list("pk", flat=True))
    host = worker_name().rpartition(":")[0]
    here = running.filter(worker__startswith=f"{host}:").exclude(pk__in=ids)
    workers = dict(here.values_list("pk", "worker"))
    gone = {worker for worker in set(workers.values()) if holder_gone(worker)}
    ids.update(pk for pk, worker in workers.items() if worker in gone)
    return sorted(ids)


def nudge_queued(now: datetime | None = None, *, older_than: float = RENUDGE_SECONDS) -> list[int]:
    """Send the queued runs that are owed a message (the broker could not be reached when
    they were made) or whose message went out more than `older_than` seconds ago, one
    message per worker batch, oldest first. Returns their ids."""
    now = now or timezone.now()
    stale = Q(nudged_at__isnull=True) | Q(nudged_at__lt=now - timedelta(seconds=older_than))
    queued = Run.objects.filter(stale, status=Run.Status.QUEUED)
    ids = list(queued.order_by(*QUEUE_ORDER).values_list("pk", flat=True))
    if ids:
        Run.objects.filter(pk__in=ids, status=Run.Status.QUEUED).update(nudged_at=now)
        nudge_in_batches(ids)
        log.info("nudged %d queued runs", len(ids))
    return ids


def _lost_message(run: Run) -> str:
    step = run.steps.filter(status=StepRun.Status.RUNNING).order_by("position").first()
    where = f" during the step {step.step_id!r}" if step else ""
    return (
        f"This run was started {run.attempts} times and stopped each time before it "
        f"finished{where}: its worker was stopped, or it took longer than the "
        f"{settings.PYQ_RUN_TIME_LIMIT} s limit. Retry it; if it stops again, split the "
        "document into smaller files."
    )


def sweep(now: datetime | None = None, *, renudge_after: float = RENUDGE_SECONDS) -> dict:
    """The sweeper, on the beat every routes.SWEEP_SECONDS and when a worker starts: queue again
    the runs of lost workers (or fail them after MAX_RUN_ATTEMPTS), nudge the queued runs
    owed a message or nudged more than `renudge_after` seconds ago, then fail what is
    still stuck past the run time limit. Returns {"requeued", "failed", "nudged"} ids."""
    now = now or timezone.now()
    result: dict[str, list[int]] = dict(recover_orphaned_runs(now))
    result["nudged"] = nudge_queued(now, older_than=renudge_after)
    fail_stuck_runs(now)
    return result


def fail_stuck_runs(now: datetime | None = None) -> int:
    """Fail runs whose worker stopped sending heartbeats past the run time limit."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.PYQ_RUN_TIME_LIMIT + 120)
    stuck = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=now - limit)
    return stuck.update(
        status=Run.Status.FAILED,
        finished_at=now,
        error="The worker processing this run stopped responding. Retry the run.",
    )
