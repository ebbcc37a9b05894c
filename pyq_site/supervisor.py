"""Keep Pyq's processes running on one machine: what `manage.py pyq_run` starts (issue 10).

Each child (the web server, the worker, beat) runs in a session of its own, so that Ctrl-C
reaches it only through the supervisor. A child that exits while Pyq is not stopping is
started again after a pause that doubles with each quick exit (1 s, 2 s, 4 s ... at most
30 s) and starts again from 1 s once the child has stayed up a minute; every exit and
restart is said in words. The others keep running meanwhile. Stopping sends SIGTERM to every
child, waits for them, and kills the process group of any that is still there after the
timeout (a worker's pool processes with it).

No Django here: the command passes the argv of each child and what caps its memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Preexec = Callable[[], None] | None


@dataclass(frozen=True)
class Backoff:
    """The pause before a child that exited is started again."""

    first: float = 1.0  # seconds after the first quick exit
    longest: float = 30.0  # the pause never grows past this
    steady: float = 60.0  # a child that stayed up this long starts again from `first`

    def pause(self, quick_exits: int) -> float:
        """The pause after `quick_exits` exits in a row (1 for the first)."""
        return min(self.longest, self.first * 2 ** max(0, quick_exits - 1))


@dataclass
class Child:
    name: str
    argv: list[str]
    preexec: Preexec = None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restarts: int = 0
    restart_at: float | None = field(default=None)


def describe_exit(returncode: int) -> str:
    """How a process ended, in words: "exited with code 1", "was killed by SIGKILL"."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Start children, start again those that exit, stop them all on request."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        say: Callable[[str], None],
        *,
        preexec_for: Callable[[str], Preexec] = lambda name: None,
        backoff: Backoff = Backoff(),
        stop_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.children = [Child(name, argv, preexec_for(name)) for name, argv in commands.items()]
        self.say = say
        self.backoff = backoff
        self.stop_timeout = stop_timeout
        self.clock = clock

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        # A session of its own: Ctrl-C in the terminal reaches the child only through us,
        # and its process group can be killed whole.
        child.proc = subprocess.Popen(child.argv, start_new_session=True, preexec_fn=child.preexec)
        child.started_at = self.clock()
        child.restart_at = None
        self.say(f"started {child.name} (pid {child.proc.pid})")

    def check(self) -> None:
        """One look at every child: note those that exited, start those whose pause is over."""
        now = self.clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
            elif child.proc is not None and child.proc.poll() is not None:
                self._schedule_restart(child, now)

    def _schedule_restart(self, child: Child, now: float) -> None:
        assert child.proc is not None
        uptime = now - child.started_at
        if uptime >= self.backoff.steady:
            child.quick_exits = 0
        child.quick_exits += 1
        pause = self.backoff.pause(child.quick_exits)
        child.restart_at = now + pause
        self.say(
            f"{child.name} {describe_exit(child.proc.returncode)} after {uptime:.0f} s; "
            f"starting it again in {pause:g} s (restart {child.restarts + 1})."
        )

    def run(self, stopping: Callable[[], bool], interval: float = 0.5) -> None:
        """Start the children and watch them until `stopping()` says so; then stop them."""
        try:
            self.start()
            while not stopping():
                self.check()
                time.sleep(interval)
        finally:
            self.stop()

    def running(self) -> list[subprocess.Popen]:
        return [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]

    def stop(self) -> None:
        """SIGTERM to every child; after `stop_timeout` seconds, SIGKILL to the process group
        of any still running."""
        for proc in self.running():
            proc.send_signal(signal.SIGTERM)
        deadline = self.clock() + self.stop_timeout
        for child in self.children:
            proc = child.proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {self.stop_timeout:g} s; killing it.")
                _kill_group(proc)
        for child in self.children:
            child.restart_at = None


def end_process(proc: subprocess.Popen, timeout: float) -> None:
    """Stop one process started in a session of its own: SIGTERM, and SIGKILL to its process
    group if it is still there after `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is the child's
    proc.wait()
