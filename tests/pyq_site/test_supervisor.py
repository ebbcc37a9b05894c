"""pyq_run's supervisor (issue 10, point 2): a child that dies is started again after a pause
that grows, said in words, while the others keep running; stopping ends every child."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from pyq_site.supervisor import Backoff, Supervisor, describe_exit
from tests.pyq_site.processes import ROOT, alive, wait_for

SLEEPER = ["sleep", "60"]
DIES = ["sh", "-c", "exit 3"]
QUICK = Backoff(first=0.05, longest=0.2, steady=60)


def watch(supervisor: Supervisor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.01)


def test_a_child_that_exits_is_started_again_while_the_others_keep_running():
    said: list[str] = []
    supervisor = Supervisor({"web": SLEEPER, "beat": DIES}, said.append, backoff=QUICK)
    supervisor.start()
    try:
        web, beat = supervisor.children
        first_web = web.proc
        watch(supervisor, 1.5)

        # beat was started again, each time after a longer pause, up to the longest
        assert beat.restarts >= 4
        exits = [line for line in said if line.startswith("beat exited with code 3")]
        assert exits[:4] == [
            "beat exited with code 3 after 0 s; starting it again in 0.05 s (restart 1).",
            "beat exited with code 3 after 0 s; starting it again in 0.1 s (restart 2).",
            "beat exited with code 3 after 0 s; starting it again in 0.2 s (restart 3).",
            "beat exited with code 3 after 0 s; starting it again in 0.2 s (restart 4).",
        ]
        assert f"started beat (pid {beat.proc.pid})" in said
        # the web server was never touched
        assert web.proc is first_web
        assert web.proc.poll() is None
        assert not [line for line in said if line.startswith("web ")]
    finally:
        supervisor.stop()
    assert supervisor.running() == []


def test_the_pause_doubles_up_to_the_longest_and_starts_over_after_a_steady_run():
    now = [0.0]
    said: list[str] = []
    supervisor = Supervisor({"worker": DIES}, said.append, backoff=Backoff(), clock=lambda: now[0])
    supervisor.start()
    [worker] = supervisor.children
    pauses = []
    try:
        for up in [1, 1, 1, 1, 1, 1, 1, 120, 1]:
            worker.proc.wait()
            now[0] += up  # the child ran this long before it exited
            supervisor.check()  # noticed: a pause is set
            pauses.append(worker.restart_at - now[0])
            now[0] = worker.restart_at
            supervisor.check()  # the pause is over: started again
    finally:
        supervisor.stop()
    assert pauses == [1, 2, 4, 8, 16, 30, 30, 1, 2]
    assert "worker exited with code 3 after 120 s; starting it again in 1 s (restart 8)." in said


def test_stop_ends_every_child_and_kills_one_that_ignores_sigterm():
    stubborn = ["sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60"]
    said: list[str] = []
    supervisor = Supervisor(
        {"web": SLEEPER, "worker": stubborn}, said.append, stop_timeout=1, backoff=QUICK
    )
    supervisor.start()
    time.sleep(0.3)  # the shell has set its trap
    pids = [child.proc.pid for child in supervisor.children]
    supervisor.stop()
    assert supervisor.running() == []
    assert "worker did not stop within 1 s; killing it." in said
    assert not any(alive(pid) for pid in pids)


def test_an_exit_is_said_in_words():
    assert describe_exit(1) == "exited with code 1"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-200) == "was killed by signal 200"


SUPERVISED = """
import signal, sys, time
from pyq_site.supervisor import Backoff, Supervisor
stopping = []
signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
supervisor = Supervisor(
    {"web": ["sleep", "60"], "beat": ["sh", "-c", "exit 1"]},
    lambda line: print(line, flush=True),
    backoff=Backoff(first=0.1, longest=0.2),
)
supervisor.run(lambda: bool(stopping), interval=0.05)
print("stopped", flush=True)
"""


def test_ctrl_c_stops_the_supervisor_and_all_its_children(tmp_path):
    log = tmp_path / "supervisor.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SUPERVISED], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: "(restart 2)" in log.read_text(), 20, "beat to be restarted", log)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log.read_text().splitlines()
    assert lines[-1] == "stopped"
    pids = [int(line.split("pid ")[1].rstrip(")")) for line in lines if line.startswith("started")]
    assert not any(alive(pid) for pid in pids)
