"""Timers inside the Pyq processes that bench/pipeline.py starts: where a document's time goes.

Pyq's code is not changed: the benchmark's stack (bench/stack.py, ``Stack(probe=...)``)
serves ``bench.probe:application`` with gunicorn and starts the worker with
``celery -A bench.probe``. On the first request (web) and in each new worker process
(``worker_process_init``) this module wraps some of Pyq's functions with CPU timers:

- web: the whole request (thread CPU time: the server has four threads), the intake that
  saves the documents and their runs, and the Celery send;
- worker: the task body (celery's task_prerun to task_postrun), claiming, reading the
  stored pages, the engine, each step, the model's ``encode``, the batch's database writes
  and the runs' final update (process CPU time: a worker process runs one task at a time,
  and the model's threads count too).

Each timer keeps its inclusive CPU time and its own (exclusive) CPU time, without the
timers called inside it, so that the own times add up to the outermost one. Each process
writes its totals, and the moments of sends, task starts and ends, to
``$PYQ_BENCH_PROBE_DIR/ROLE-PID.json`` after each request or task; the benchmark reads them
before and after a round. The cost: a few microseconds per timed call, a few hundred calls
and one small file per 100 documents.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun, worker_process_init

from pyq_site.celery import app

__all__ = ["app", "application"]

PROBE_DIR = "PYQ_BENCH_PROBE_DIR"
UPLOAD_PATH = "/api/v1/documents"


class Timers:
    """Named CPU timers that nest per thread; totals per name, written to one file."""

    def __init__(self, role: str, clock: Callable[[], float]) -> None:
        self.role = role
        self.clock = clock
        self.totals: dict[str, dict[str, float]] = {}
        self.events: dict[str, list] = {"sends": [], "starts": [], "ends": [], "polls": []}
        self.root_cpu = 0.0  # inclusive CPU of the outermost timers
        self.lock = threading.Lock()
        self.local = threading.local()

    def begin(self) -> list[float]:
        frame = [self.clock(), time.perf_counter(), 0.0]  # cpu, wall, cpu of inner timers
        self._stack().append(frame)
        return frame

    def end(self, name: str, frame: list[float]) -> float:
        """Close the timer opened by ``begin``; returns its inclusive CPU seconds."""
        cpu, wall = self.clock() - frame[0], time.perf_counter() - frame[1]
        stack = self._stack()
        stack.pop()
        with self.lock:
            total = self.totals.setdefault(name, {"calls": 0, "cpu": 0.0, "own": 0.0, "wall": 0.0})
            total["calls"] += 1
            total["cpu"] += cpu
            total["own"] += cpu - frame[2]
            total["wall"] += wall
            if stack:
                stack[-1][2] += cpu
            else:
                self.root_cpu += cpu
        return cpu

    @contextlib.contextmanager
    def timing(self, name: str) -> Iterator[None]:
        frame = self.begin()
        try:
            yield
        finally:
            self.end(name, frame)

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` (a function of a module or a class) by a timed one."""
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            with self.timing(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def event(self, kind: str, *values: Any) -> None:
        with self.lock:
            self.events[kind].append(values)

    def dump(self) -> None:
        folder = os.environ.get(PROBE_DIR)
        if not folder:
            return
        with self.lock:
            body = json.dumps(
                {
                    "role": self.role,
                    "pid": os.getpid(),
                    "root_cpu": self.root_cpu,
                    "totals": self.totals,
                    "events": self.events,
                }
            )
        path = Path(folder) / f"{self.role}-{os.getpid()}.json"
        partial = path.with_suffix(".part")
        partial.write_text(body)
        os.replace(partial, path)  # the benchmark reads a whole file or the previous one

    def _stack(self) -> list[list[float]]:
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack


def first_run_id(args: tuple) -> int | None:
    """The first run id of a run task's arguments: (run_id,) or ([run_ids],)."""
    if not args:
        return None
    head = args[0]
    if isinstance(head, list | tuple):
        return head[0] if head else None
    return head if isinstance(head, int) else None


# --- the worker -------------------------------------------------------------------------------

WORKER = Timers("worker", time.process_time)
_TASKS: dict[str, list[float]] = {}  # task id -> its open timer


@worker_process_init.connect
def _install_worker(**kwargs) -> None:
    if not os.environ.get(PROBE_DIR):
        return
    # Pyq's modules are imported here, in the worker process, once Django is set up.
    from automations.runs import execute, queue, store
    from automations.steps import classify, extract_text
    from catalog.runtime import embeddings

    timers = WORKER
    timers.wrap(execute, "claim", "worker.claim")
    timers.wrap(execute, "pages_of", "worker.pages")
    timers.wrap(execute, "run_pipeline_batch", "worker.engine")
    timers.wrap(execute, "finish_succeeded", "worker.finish")
    timers.wrap(store.BatchWriter, "flush", "worker.writes")
    timers.wrap(extract_text.ExtractText, "run", "step.extract_text")
    timers.wrap(extract_text, "detect_language", "step.language")
    timers.wrap(classify.ClassifyStep, "run_batch", "step.classify")
    timers.wrap(embeddings.Embedder, "encode", "model.encode")
    _wrap_send(queue, timers)


@task_prerun.connect
def _task_started(task_id=None, task=None, args=(), **kwargs) -> None:
    if os.environ.get(PROBE_DIR) and task_id:
        name = getattr(task, "name", None)
        WORKER.event("starts", time.time(), name, first_run_id(tuple(args or ())))
        _TASKS[task_id] = WORKER.begin()


@task_postrun.connect
def _task_finished(task_id=None, **kwargs) -> None:
    frame = _TASKS.pop(task_id, None) if task_id else None
    if frame is not None:
        WORKER.end("worker.task", frame)
        WORKER.event("ends", time.time())
        WORKER.dump()


def _wrap_send(queue: Any, timers: Timers) -> None:
    """Time Celery's send and note when each run message left (name, first run id)."""
    original = queue.send

    @functools.wraps(original)
    def send(name: str, *args, countdown: float | None = None) -> None:
        timers.event("sends", time.time(), name, first_run_id(args), countdown)
        with timers.timing("queue.send"):
            original(name, *args, countdown=countdown)

    queue.send = send


# --- the web server ---------------------------------------------------------------------------

WEB = Timers("web", time.thread_time)
_DJANGO: list[Callable] = []
_DJANGO_LOCK = threading.Lock()


def application(environ: dict, start_response: Callable) -> Any:
    """Pyq's WSGI application, with each request timed: uploads and the rest apart."""
    django = _django()
    upload = environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == UPLOAD_PATH
    began = time.time()
    frame = WEB.begin()
    try:
        return django(environ, start_response)
    finally:
        cpu = WEB.end("web.upload" if upload else "web.request", frame)
        if not upload:
            WEB.event("polls", began, cpu)  # the benchmark's own requests: its polling
        WEB.dump()


def _django() -> Callable:
    """Load Pyq's WSGI application on the first request (only the web server does) and time
    its intake and Celery's send."""
    with _DJANGO_LOCK:
        if not _DJANGO:
            django = importlib.import_module("pyq_site.wsgi").application  # sets Django up
            from automations import intake
            from automations.runs import queue

            WEB.wrap(intake, "ingest_many", "web.intake")
            _wrap_send(queue, WEB)
            _DJANGO.append(django)
    return _DJANGO[0]
