"""Runs whose worker was lost: heartbeats while a worker executes them, and the beat's sweep.

While a worker executes runs, a background thread keeps their heartbeat fresh (Heartbeat).
A run left "running" with a stale heartbeat lost its worker (killed, out of memory, machine
gone): recover_orphaned_runs, on the beat every minute, queues it again, and it resumes
after its last finished step; after MAX_RUN_ATTEMPTS it is failed with a reason instead.
Also here: ending a run and its running steps (finish), for the executor and the sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from automations.engine.pipeline import log_line
from automations.models import Run, StepRun
from automations.runs.claim import lease
from automations.runs.queue import enqueue_run

log = logging.getLogger(__name__)

MAX_RUN_ATTEMPTS = 3  # times a run is started before a lost worker fails it for good
ORPHAN_MARGIN = 60  # seconds past the lease before a silent run counts as orphaned
HEARTBEAT_SECONDS = 30.0  # how often a worker refreshes its runs' heartbeat


class Heartbeat:
    """Keeps the heartbeat of the runs a worker executes fresh, from a background thread,
    so that a long step (a batch of model calls, a webhook's retries) is never taken for a
    lost worker. The thread dies with the process: a killed worker's runs go stale and
    recover_orphaned_runs queues them again. It stops beating at the task's hard time
    limit, so a run that somehow goes on past it is recovered too."""

    def __init__(self, run_ids: list[int], interval: float | None = None) -> None:
        self.run_ids = run_ids
        self.interval = interval or HEARTBEAT_SECONDS
        self.deadline = time.monotonic() + settings.PYQ_RUN_TIME_LIMIT + 60
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
                    Run.objects.filter(pk__in=self.run_ids, status=Run.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a busy database: the next beat tries again
                    log.warning("heartbeat of runs %s failed", self.run_ids, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only


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


def recover_orphaned_runs(now=None) -> dict[str, list[int]]:
    """Queue again the runs whose worker was lost (running, heartbeat older than the lease
    and a margin), so that they resume after their last finished step; a run already
    started MAX_RUN_ATTEMPTS times is failed with a reason instead. Returns the ids, as
    {"requeued": [...], "failed": [...]}."""
    now = now or timezone.now()
    cutoff = now - lease() - timedelta(seconds=ORPHAN_MARGIN)
    stale = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    result: dict[str, list[int]] = {"requeued": [], "failed": []}
    for run_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).first()
            if run is None or run.status != Run.Status.RUNNING:
                continue
            if (run.heartbeat_at or run.started_at or now) >= cutoff:
                continue  # it came back to life meanwhile
            if run.attempts >= MAX_RUN_ATTEMPTS:
                message = _lost_message(run)
                fail_running_steps(run, message)
                finish(run, Run.Status.FAILED, message)
                result["failed"].append(run.pk)
                continue
            Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, heartbeat_at=None)
            enqueue_run(run)
            result["requeued"].append(run.pk)
    if result["requeued"] or result["failed"]:
        log.warning("orphaned runs: %s", result)
    return result


def _lost_message(run: Run) -> str:
    step = run.steps.filter(status=StepRun.Status.RUNNING).order_by("position").first()
    where = f" during the step {step.step_id!r}" if step else ""
    return (
        f"This run was started {run.attempts} times and stopped each time before it "
        f"finished{where}: its worker was stopped, or it took longer than the "
        f"{settings.PYQ_RUN_TIME_LIMIT} s limit. Retry it; if it stops again, split the "
        "document into smaller files."
    )


def recover_runs(now=None) -> dict[str, list[int]]:
    """The beat's sweep: queue again the runs of lost workers (or fail them after
    MAX_RUN_ATTEMPTS), then fail what is still stuck past the run time limit."""
    result = recover_orphaned_runs(now)
    fail_stuck_runs(now)
    return result


def fail_stuck_runs(now=None) -> int:
    """Fail runs whose worker stopped sending heartbeats past the run time limit."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.PYQ_RUN_TIME_LIMIT + 120)
    stuck = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=now - limit)
    return stuck.update(
        status=Run.Status.FAILED,
        finished_at=now,
        error="The worker processing this run stopped responding. Retry the run.",
    )
