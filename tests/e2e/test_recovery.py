"""End to end: a worker process killed in the middle of a run leaves the run to be picked up
again. The beat's recovery queues it again, a new worker resumes it after its last
finished step, and every finished step ran exactly once. Within seconds, and with no
sweep by the test: when only the pool process is killed, Celery delivers its message
again and the next pool process takes the run over (its holder is gone); when the whole
worker is killed, the next worker to start sweeps and takes it over."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from automations import intake
from automations.models import Run, StepRun
from automations.runs.recovery import recover_orphaned_runs
from tests.e2e.conftest import ROOT, database_url, wait_for
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow]

PIPELINE = [
    {"id": "text", "step": "extract_text"},
    {"id": "before", "step": "test_mark", "config": {"tag": "before"}},
    {"id": "block", "step": "test_block"},
    {"id": "after", "step": "test_mark", "config": {"tag": "after"}},
]


class Workers:
    """Starts worker processes that know the test's blocking steps; stops them all."""

    def __init__(self, settings, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.steps_log = tmp_path / "steps.log"
        self.release = tmp_path / "release"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "PYQ_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PYQ_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYQ_DATA_DIR": str(settings.DATA_DIR),
            "PYQ_TEST_STEP_LOG": str(self.steps_log),
            "PYQ_TEST_RELEASE": str(self.release),
        }
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str) -> Path:
        log = self.tmp_path / f"{name}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "pyq_site", "worker",
                    "--include", "tests.e2e.blocking_steps",
                    "-Q", "default,ml", "--concurrency", "1", "--loglevel", "INFO",
                    "-n", f"{name}-{os.getpid()}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return log

    def kill(self, index: int) -> None:
        """SIGKILL a worker and its pool child, as the kernel's OOM killer or a lost machine
        would: nothing gets to clean up."""
        proc = self.procs[index]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def calls(self) -> list[str]:
        text = self.steps_log.read_text() if self.steps_log.exists() else ""
        return [line.split()[0] for line in text.splitlines()]

    def pids(self) -> list[str]:
        return [line.split()[1] for line in self.steps_log.read_text().splitlines()]

    def kill_pool_process(self) -> None:
        """SIGKILL the pool process that runs the blocking step, and only it; its worker's
        main process lives on and starts another."""
        os.kill(int(self.pids()[-1]), signal.SIGKILL)


@pytest.fixture
def workers(transactional_db, settings, tmp_path):
    from pyq_site.celery import app

    app.control.purge()
    pool = Workers(settings, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def test_a_run_survives_its_worker_being_killed_mid_step(workers, settings):
    first = workers.start("first")
    org = OrganizationFactory()
    document = intake.ingest(org, io.BytesIO(b"Invoice 42, total 9.00"), "a.txt", pipeline=PIPELINE)
    run = document.runs.get()

    # Given a worker in the middle of the blocking step
    wait_for(lambda: "block-start" in workers.calls(), 30, "the step to start", first)
    # When the worker is killed
    workers.kill(0)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.RUNNING, 1)
    assert run.steps.get(step_id="block").status == StepRun.Status.RUNNING
    finished = {s.step_id: s.finished_at for s in run.steps.filter(status="succeeded")}
    assert sorted(finished) == ["before", "text"]

    # Then the beat's recovery, once the heartbeat is stale, queues it again ...
    workers.release.touch()
    later = timezone.now() + timedelta(seconds=settings.PYQ_STEP_TIME_LIMIT + 60 + 61)
    assert recover_orphaned_runs(later) == {"requeued": [run.pk], "failed": []}
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED
    # ... and a new worker resumes it after its last finished step
    second = workers.start("second")

    def done():
        return not Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).exists()

    wait_for(done, 30, "the run to finish", second)
    run.refresh_from_db()
    assert (run.status, run.error, run.attempts) == (Run.Status.SUCCEEDED, "", 2)
    assert workers.calls() == ["before", "block-start", "block-start", "block-end", "after"]
    pids = workers.pids()
    assert pids[0] == pids[1] != pids[2] == pids[3] == pids[4]  # killed worker, then the new one
    steps = {s.step_id: s for s in run.steps.all()}
    assert {k: steps[k].finished_at for k in finished} == finished  # not run again
    assert [(s.step_id, s.status, s.attempts) for s in run.steps.all()] == [
        ("text", "succeeded", 1),
        ("before", "succeeded", 1),
        ("block", "succeeded", 2),
        ("after", "succeeded", 1),
    ]
    assert [line["message"] for line in steps["block"].log][:3] == [
        "Started.",
        "The worker running this step stopped; it starts again.",
        "Started.",
    ]


def resumed_in(workers: Workers, run: Run, log: Path, seconds: float) -> Run:
    """Wait (no sweep by the test) until the killed run finishes again; it must."""
    workers.release.touch()

    def done():
        return not Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).exists()

    wait_for(done, seconds, "the run to resume and finish", log)
    run.refresh_from_db()
    assert workers.calls() == ["before", "block-start", "block-start", "block-end", "after"]
    assert [(s.step_id, s.status, s.attempts) for s in run.steps.all()] == [
        ("text", "succeeded", 1),
        ("before", "succeeded", 1),
        ("block", "succeeded", 2),
        ("after", "succeeded", 1),
    ]
    return run


def block_a_run(workers: Workers, log: Path) -> Run:
    org = OrganizationFactory()
    document = intake.ingest(org, io.BytesIO(b"Invoice 42, total 9.00"), "a.txt", pipeline=PIPELINE)
    wait_for(lambda: "block-start" in workers.calls(), 30, "the step to start", log)
    return document.runs.get()


def test_a_run_whose_pool_process_is_killed_resumes_within_seconds(workers):
    log = workers.start("first")
    run = block_a_run(workers, log)

    workers.kill_pool_process()

    run = resumed_in(workers, run, log, 20)
    assert (run.status, run.error, run.attempts) == (Run.Status.SUCCEEDED, "", 2)
    pids = workers.pids()
    assert pids[1] != pids[2]  # the killed pool process, then its successor


def test_a_killed_workers_run_resumes_as_soon_as_a_worker_starts_again(workers):
    first = workers.start("first")
    run = block_a_run(workers, first)
    workers.kill(0)  # the whole worker: its message stays unacknowledged (or is lost)

    second = workers.start("second")

    run = resumed_in(workers, run, second, 30)
    assert (run.status, run.error, run.attempts) == (Run.Status.SUCCEEDED, "", 2)
