"""First start on any configuration (issue 10, point 6): `pyq_run` on a data folder that does
not exist yet, with the test database (PostgreSQL when DATABASE_URL says so) and a Redis
broker, serves a page and runs a worker that answers; Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from celery import Celery

from tests.e2e.conftest import database_url
from tests.pyq_site.processes import (
    ROOT,
    alive,
    free_port,
    needs_redis_server,
    pyq_environment,
    wait_for,
)
from tests.pyq_site.test_settings import manage_check, output

STARTED = re.compile(r"started (\w+) \(pid (\d+)\)")


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def children(log: Path) -> dict[str, list[int]]:
    """The pids pyq_run said it started, by child."""
    started: dict[str, list[int]] = {}
    for name, pid in STARTED.findall(log.read_text()):
        started.setdefault(name, []).append(int(pid))
    return started


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def end_all(proc: subprocess.Popen, log: Path) -> None:
    """What is left of this pyq_run: SIGTERM (it stops its children), then SIGKILL to the
    process group of each child it still holds, and to itself."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
        return
    except subprocess.TimeoutExpired:
        pass
    for pids in children(log).values():
        if parent_of(pids[-1]) == proc.pid:  # still its child: the pid is not someone else's
            os.killpg(pids[-1], signal.SIGKILL)
    proc.kill()
    proc.wait(timeout=10)


@needs_redis_server
def test_pyq_run_starts_on_an_empty_data_folder_with_redis(
    transactional_db, redis_server, tmp_path
):
    # Given a data folder that does not exist yet, the test database and a Redis broker
    data = tmp_path / "data"
    address = f"127.0.0.1:{free_port()}"
    env = pyq_environment(data, DATABASE_URL=database_url(), PYQ_BROKER_URL=redis_server.url)
    log = tmp_path / "pyq_run.log"

    # When pyq_run starts
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "pyq_run", "--address", address, "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = Celery("first-start-test", broker=redis_server.url, set_as_current=False)
    try:
        # Then a page answers, the worker answers through Redis, and beat keeps its schedule
        # in the new data folder
        login = f"http://{address}/accounts/login/"
        wait_for(lambda: status(login) == 200, 90, "the login page", log)
        replies = wait_for(lambda: client.control.ping(timeout=1.0), 60, "a worker's pong", log)
        assert list(replies[0].values()) == [{"ok": "pong"}]
        wait_for(lambda: list((data / "celery").glob("beat-schedule*")), 30, "beat", log)
        assert (data / "media").is_dir()
        assert sorted(children(log)) == ["beat", "web", "worker"]
        assert all(len(pids) == 1 for pids in children(log).values()), log.read_text()[-4000:]

        # And Ctrl-C stops pyq_run and every child
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0, log.read_text()[-4000:]
        assert "Pyq stopped." in log.read_text()
        assert not [pid for pids in children(log).values() for pid in pids if alive(pid)]
    finally:
        client.close()
        end_all(proc, log)


def test_a_fresh_data_folder_gets_every_folder_with_a_redis_broker(tmp_path):
    # `check` loads the settings and connects to nothing: no Redis is needed here
    data = tmp_path / "data"
    result = manage_check(data, PYQ_BROKER_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 0, output(result)
    for folder in ("celery", "media", "static", "cache/models"):
        assert (data / folder).is_dir(), folder


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = manage_check(tmp_path, PYQ_MEDIA_ROOT=str(tmp_path / "a-file" / "media"))
    assert result.returncode != 0
    assert "pyq.E001" in output(result)
    assert f"PYQ_MEDIA_ROOT: the folder {tmp_path / 'a-file' / 'media'} cannot be made" in output(
        result
    )
