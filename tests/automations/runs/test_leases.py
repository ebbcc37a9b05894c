"""A worker holds its runs by a short lease; a run whose worker is gone is taken over.

A claim writes the worker's name (host:pid) and a 30 s lease, which the heartbeat renews.
A redelivered message or the sweeper takes over a run whose lease ran out, or whose holder
was a process of this machine that is gone, and it resumes after its last finished step; a
live worker's run is never taken twice. The sweeper sends one message per worker batch, on
the beat and when a worker starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from celery.signals import worker_ready
from django.utils import timezone

from automations.models import Page, Run, StepRun
from automations.runs import queue, recovery, tasks
from automations.runs.claim import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    MAX_RUN_ATTEMPTS,
    RunBusy,
    claim,
    holder_gone,
    worker_name,
)
from automations.runs.execute import execute_run
from automations.runs.routes import PROCESS_RUN, PROCESS_RUNS
from tests.automations.helpers import make_document

HOST = socket.gethostname()


@pytest.fixture
def messages(monkeypatch) -> list[tuple[str, object]]:
    """The messages sent to the workers, as (task name, its argument), instead of a broker."""
    sent: list[tuple[str, object]] = []
    monkeypatch.setattr(queue, "send", lambda name, arg, countdown=None: sent.append((name, arg)))
    return sent


@pytest.fixture
def dead_pid() -> int:
    """The id of a process of this machine that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def zombie() -> Iterator[int]:
    """A killed process its parent has not reaped yet."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("a zombie is told by /proc, which this system does not have")
    process = subprocess.Popen(["sleep", "60"])
    os.kill(process.pid, signal.SIGKILL)
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + 5
    while stat.read_text().rpartition(")")[2].split()[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)  # the signal takes a moment
    yield process.pid
    process.wait()


def queued_run(org, name: str = "a.txt") -> Run:
    return make_document(org, name, b"Invoice 42 from Acme, total 9.00").runs.get()


def hold(run: Run, worker: str, *, lease: float, attempts: int = 1) -> None:
    """Leave the run running, held by `worker` with `lease` seconds left (negative: ran out)."""
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        worker=worker,
        lease_until=now + timedelta(seconds=lease),
        heartbeat_at=now,
        started_at=now,
        attempts=attempts,
    )


def finished_text_step(run: Run) -> None:
    """The first step done by the first worker, with a mark of it."""
    Page.objects.create(document=run.document, number=1, text="Invoice 42", method="text")
    StepRun.objects.create(
        run=run, position=0, step_id="text", step="extract_text",
        status=StepRun.Status.SUCCEEDED, output={"pages": 1, "marker": "first worker"},
        attempts=1,
    )  # fmt: skip


# --- claims ------------------------------------------------------------------------------------


def test_a_claim_names_its_worker_and_holds_a_short_lease(org):
    run = queued_run(org)

    (claimed,) = claim(run.pk)

    assert claimed.status == Run.Status.RUNNING
    assert claimed.worker == f"{HOST}:{os.getpid()}" == worker_name()
    assert claimed.lease_until == claimed.heartbeat_at + timedelta(seconds=LEASE_SECONDS)
    assert LEASE_SECONDS == 30
    assert LEASE_SECONDS >= 3 * HEARTBEAT_SECONDS  # two beats may be late before it runs out


@pytest.mark.parametrize(
    "worker", ["another-host:4242", f"{HOST}:{os.getpid()}"], ids=["elsewhere", "this-machine"]
)
def test_a_live_workers_run_is_not_taken_twice(org, messages, worker):
    run = queued_run(org)
    hold(run, worker, lease=25)

    with pytest.raises(RunBusy):
        execute_run(run.pk)
    tasks.process_run.run(run.pk)  # a second delivery of its message
    tasks.process_runs.run([run.pk])

    run.refresh_from_db()
    assert (run.status, run.worker, run.attempts) == (Run.Status.RUNNING, worker, 1)
    assert run.steps.count() == 0
    assert messages == []  # skipped, not put back: should its worker die, the sweeper sees it


def test_a_run_whose_lease_ran_out_is_taken_over_and_resumes_after_its_last_step(org):
    run = queued_run(org)
    finished_text_step(run)
    hold(run, "another-host:4242", lease=-1)

    execute_run(run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Run.Status.SUCCEEDED, 2, worker_name())
    assert run.steps.get(step_id="text").output["marker"] == "first worker"  # not read again


def test_a_run_whose_holder_on_this_machine_is_gone_is_taken_over_at_once(org, dead_pid):
    run = queued_run(org)
    finished_text_step(run)
    hold(run, f"{HOST}:{dead_pid}", lease=25)  # its lease has not run out yet

    execute_run(run.pk)

    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 2)
    assert run.steps.get(step_id="text").output["marker"] == "first worker"


def test_whether_a_holder_is_gone_is_known_on_its_own_machine_only(dead_pid, zombie):
    assert holder_gone(f"{HOST}:{dead_pid}")
    assert holder_gone(f"{HOST}:{zombie}")  # killed, not reaped yet: gone too
    assert not holder_gone(f"{HOST}:{os.getpid()}")
    assert not holder_gone(f"another-host:{dead_pid}")  # its lease decides
    assert not holder_gone("")  # claimed before workers were named


def test_the_redelivered_message_of_a_killed_worker_resumes_its_runs(org, dead_pid, messages):
    runs = [queued_run(org, f"{n}.txt") for n in range(3)]
    for run in runs:
        hold(run, f"{HOST}:{dead_pid}", lease=25)

    tasks.process_runs.run([run.pk for run in runs])  # redelivered at once by Celery

    assert [Run.objects.get(pk=r.pk).status for r in runs] == [Run.Status.SUCCEEDED] * 3
    assert messages == []


def test_a_run_lost_too_often_is_left_to_the_sweeper_which_fails_it(org, dead_pid):
    run = queued_run(org)
    hold(run, f"{HOST}:{dead_pid}", lease=25, attempts=MAX_RUN_ATTEMPTS)

    assert claim(run.pk) == []
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING

    assert recovery.sweep()["failed"] == [run.pk]
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error.startswith(f"This run was started {MAX_RUN_ATTEMPTS} times and stopped")


def test_a_run_whose_worker_was_lost_runs_alone_and_healthy_ones_batch_without_it(org, dead_pid):
    # Given a run lost once with its worker (it may be the document that killed it), and
    # healthy queued runs
    lost = queued_run(org, "lost.txt")
    hold(lost, f"{HOST}:{dead_pid}", lease=25, attempts=1)
    healthy = [queued_run(org, f"h{i}.txt") for i in range(3)]
    # When a worker takes the lost run over with room for a batch Then it takes it alone
    (claimed,) = claim(lost.pk, batch_size=8)
    assert claimed.pk == lost.pk
    assert claimed.attempts == 2
    # And a run started before never joins a healthy run's batch
    Run.objects.filter(pk=lost.pk).update(status=Run.Status.QUEUED, worker="", lease_until=None)
    batch = claim(healthy[0].pk, batch_size=8)
    assert sorted(r.pk for r in batch) == sorted(r.pk for r in healthy)


# --- the heartbeat -----------------------------------------------------------------------------


def test_the_heartbeat_renews_only_the_leases_its_worker_holds(org):
    mine, taken_over, done = (queued_run(org, f"{n}.txt") for n in range(3))
    hold(mine, worker_name(), lease=5)
    hold(taken_over, "another-host:4242", lease=5)
    hold(done, worker_name(), lease=5)
    Run.objects.filter(pk=done.pk).update(status=Run.Status.SUCCEEDED)
    before = {r.pk: r.lease_until for r in Run.objects.all()}

    assert recovery.renew([mine.pk, taken_over.pk, done.pk], worker_name()) == 1

    after = {r.pk: r for r in Run.objects.all()}
    assert after[mine.pk].lease_until == after[mine.pk].heartbeat_at + timedelta(seconds=30)
    assert after[mine.pk].lease_until > before[mine.pk]
    assert after[taken_over.pk].lease_until == before[taken_over.pk]
    assert after[done.pk].lease_until == before[done.pk]


# --- the sweeper -------------------------------------------------------------------------------


def test_the_sweeper_queues_lost_runs_again_in_one_message_per_batch(
    org, settings, dead_pid, messages, django_capture_on_commit_callbacks
):
    settings.PYQ_BATCH_SIZE = 2
    expired = [queued_run(org, f"x{n}.txt") for n in range(4)]
    for run in expired:
        hold(run, "another-host:4242", lease=-1)
    gone_here = queued_run(org, "gone.txt")
    hold(gone_here, f"{HOST}:{dead_pid}", lease=25)
    live = queued_run(org, "live.txt")
    hold(live, "another-host:4343", lease=25)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = recovery.sweep()

    lost = sorted(r.pk for r in [*expired, gone_here])
    assert (result["requeued"], result["failed"], result["nudged"]) == (lost, [], [])
    assert len(callbacks) == 3  # one message per batch of two, sent after commit
    assert messages == [
        (PROCESS_RUNS, lost[0:2]),
        (PROCESS_RUNS, lost[2:4]),
        (PROCESS_RUN, lost[4]),
    ]
    rows = {r.pk: r for r in Run.objects.all()}
    assert {(rows[pk].status, rows[pk].worker, rows[pk].lease_until) for pk in lost} == {
        (Run.Status.QUEUED, "", None)
    }
    assert (rows[live.pk].status, rows[live.pk].worker) == (Run.Status.RUNNING, "another-host:4343")


def test_the_sweeper_nudges_queued_runs_owed_a_message_or_nudged_long_ago(
    org, messages, django_capture_on_commit_callbacks
):
    owed, fresh, old = (queued_run(org, f"{n}.txt") for n in range(3))
    now = timezone.now()
    Run.objects.filter(pk=owed.pk).update(nudged_at=None)  # the broker was down
    Run.objects.filter(pk=old.pk).update(
        nudged_at=now - timedelta(seconds=recovery.RENUDGE_SECONDS + 1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = recovery.sweep(now)

    assert result["nudged"] == [owed.pk, old.pk]  # the oldest first
    assert messages == [(PROCESS_RUNS, [owed.pk, old.pk])]
    nudged = dict(Run.objects.values_list("pk", "nudged_at"))
    assert nudged[owed.pk] == nudged[old.pk] == now
    assert nudged[fresh.pk] < now
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.sweep(now)["nudged"] == []  # not again before RENUDGE_SECONDS


def test_the_beat_sweeps_every_few_seconds(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["recover-runs"]
    assert schedule == {"task": "automations.tasks.recover_runs", "schedule": 15.0}


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_starts_sweeps_and_nudges_every_queued_run(dead_pid, messages):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory()
    waiting = queued_run(org, "waiting.txt")  # its message went out a minute ago, maybe lost
    Run.objects.filter(pk=waiting.pk).update(nudged_at=timezone.now() - timedelta(minutes=1))
    orphan = queued_run(org, "orphan.txt")  # the killed worker before this one held it
    hold(orphan, f"{HOST}:{dead_pid}", lease=25)
    messages.clear()  # the uploads' own

    worker_ready.send(sender=None)

    assert messages == [(PROCESS_RUN, orphan.pk), (PROCESS_RUN, waiting.pk)]
    assert Run.objects.get(pk=orphan.pk).status == Run.Status.QUEUED


def test_the_redis_visibility_timeout_brings_a_lost_message_back_in_minutes(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("the visibility timeout is Redis's; this configuration's broker is not")
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert timeout == recovery.RENUDGE_SECONDS == 300
    assert timeout > 1.5 * queue.SLOT_WAIT_SECONDS  # a countdown's message is not copied
