"""A worker survives its broker (issue 10, point 2): Redis goes away and comes back under a
working worker, which reconnects and goes on with work sent after the restart."""

from __future__ import annotations

import subprocess
import time

import pytest
from celery import Celery
from django.conf import settings

from pyq_site.management.commands.pyq_run import commands
from pyq_site.supervisor import end_process
from tests.pyq_site.processes import ROOT, needs_redis_server, pyq_environment, wait_for

# The name of tests/pyq_site/outage_tasks.touch, which only the worker imports: registered in
# this process, it would be a task without a route (tests/automations/runs/test_routing.py).
TOUCH = "tests.outage.touch"


@pytest.fixture
def worker(redis_server, tmp_path):
    """Pyq's worker as `pyq_run` starts it, against the test's Redis, with the test's task."""
    log = tmp_path / "worker.log"
    argv = [*commands("127.0.0.1:0", 1)["worker"], "-I", "tests.pyq_site.outage_tasks"]
    env = pyq_environment(tmp_path / "data", PYQ_BROKER_URL=redis_server.url)
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: " ready." in log.read_text(), 45, "the worker to be ready", log)
        yield proc, log
    finally:
        end_process(proc, timeout=20)


@needs_redis_server
def test_a_worker_reconnects_after_redis_restarts_and_takes_new_work(
    worker, redis_server, tmp_path
):
    proc, log = worker
    client = Celery("outage-test", broker=redis_server.url, set_as_current=False)
    before, after = tmp_path / "before", tmp_path / "after"
    try:
        # Given a task running on the worker (unacknowledged: Pyq acknowledges late)
        client.send_task(TOUCH, args=[str(before), 3.0], queue="default")
        started = tmp_path / "before.started"
        wait_for(started.exists, 20, "the first task to start", log)

        # When Redis goes away for a few seconds and comes back (empty: no persistence)
        redis_server.stop()
        time.sleep(3)
        redis_server.start()
        wait_for(
            lambda: log.read_text().count("Connected to redis") >= 2,
            30,
            "the worker to reconnect",
            log,
        )

        # Then the worker is still there and does a task sent after the restart
        client.send_task(TOUCH, args=[str(after)], queue="default")
        wait_for(after.exists, 30, "the task sent after the restart", log)
        assert proc.poll() is None, log.read_text()[-4000:]
        assert before.exists()  # the task that ran through the outage finished too
        assert "Unrecoverable error" not in log.read_text()
    finally:
        client.close()


def test_workers_retry_the_broker_for_ever():
    # Celery's default (100 attempts, about 45 minutes) would end the worker in a long outage
    assert settings.CELERY_BROKER_CONNECTION_MAX_RETRIES is None
