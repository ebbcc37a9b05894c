"""Where a document's time goes in bench/pipeline.py's Pyq rounds.

The machine's cores are the budget: a round of W seconds on C cores has W x C core-seconds,
and every one of them is spent by some process or left idle. Over the round's window (from
the first upload to the moment the last result was stored) this module reads:

- the machine's busy and idle time (/proc/stat), and the CPU time of each of Pyq's
  processes and of the benchmark's own (their CPU-time clocks), sampled every 10 ms and
  interpolated at the window's end (the benchmark learns of the last result by polling);
- bench/probe.py's timers inside Pyq's processes: what the web server's requests, the
  intake, Celery's sends, and the worker's claiming, steps, model and writes took.

Each process's CPU time is split into the probe's parts and a remainder (what no timer
covers: the HTTP server, Celery outside the task), and the machine's busy time beyond the
processes is "other processes", so that the parts add up to the window's core-seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from pathlib import Path

from bench.common import children

TICK = os.sysconf("SC_CLK_TCK")
CPUCLOCK_SCHED = 2  # a process's CPU-time clock id: (~pid << 3) | 2 (linux/posix-timers.h)
SAMPLE_SECONDS = 0.01  # a sample costs about 20 µs: /proc/stat read again, a few clocks

# (key, part of the four, what it is): the order of the README's table
PARTS = [
    ("web.upload", "web upload", "upload request in Django: auth, multipart parsing, answer"),
    ("web.intake", "web upload", "intake: files stored, documents and runs written"),
    ("web.server", "web upload", "web server outside Django (HTTP, gunicorn)"),
    ("queue.send", "queue", "Celery send (the web's after commit, the worker's re-sends)"),
    ("queue.consumer", "queue", "worker's main process: broker polling, handing out messages"),
    ("queue.celery", "queue", "Celery in the worker processes, outside the task"),
    ("worker.claim", "worker bookkeeping", "claiming runs (status, slots)"),
    ("worker.setup", "worker bookkeeping", "task and batch set-up: queries, contexts, heartbeat"),
    ("worker.engine", "worker bookkeeping", "engine: step rows, logs, conditions, inputs"),
    ("worker.writes", "worker bookkeeping", "database writes: step rows, pages, finished runs"),
    ("step.extract_text", "steps besides the model", "extract_text: file check and read"),
    ("step.language", "steps besides the model", "extract_text: language detection"),
    ("step.classify", "steps besides the model", "classify besides encode: labels, scores"),
    ("model.encode", "model", "encode: tokenizer and ONNX Runtime"),
    ("bench.client", "benchmark", "the benchmark's client: uploads, polling, sampling"),
    ("bench.polls", "benchmark", "the benchmark's polling requests in Django"),
    ("machine.other", "machine", "other processes on the machine"),
    ("machine.idle", "machine", "idle cores"),
]


def machine_seconds(stat: int) -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, all cores together, from
    /proc/stat open as the file descriptor ``stat`` (read again from its start)."""
    first = os.pread(stat, 512, 0).split(b"\n", 1)[0]
    fields = [int(v) for v in first.split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / TICK, idle / TICK


def process_seconds(pid: int) -> float:
    """CPU seconds of a process, all its threads (0 when it is gone): its CPU-time clock
    (Linux's clock_getcpuclockid), to the nanosecond; /proc/PID/stat's ticks elsewhere."""
    try:
        return time.clock_gettime(((~pid) << 3) | CPUCLOCK_SCHED)
    except OSError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


class Sampler:
    """The machine's and some processes' CPU seconds, every SAMPLE_SECONDS while in use."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.samples: list[dict[str, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.stat = -1

    def sample(self) -> dict[str, float]:
        busy, idle = machine_seconds(self.stat)
        row = {"t": time.time(), "busy": busy, "idle": idle}
        for name, pids in self.groups.items():
            row[name] = sum(process_seconds(pid) for pid in pids)
        return row

    def __enter__(self) -> Sampler:
        self.stat = os.open("/proc/stat", os.O_RDONLY)
        self.samples.append(self.sample())
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()
        self.samples.append(self.sample())
        os.close(self.stat)

    def _loop(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            self.samples.append(self.sample())

    def at(self, moment: float) -> dict[str, float]:
        """Each counter at ``moment``, interpolated between the samples around it."""
        before = max((s for s in self.samples if s["t"] <= moment), key=lambda s: s["t"])
        after = min((s for s in self.samples if s["t"] >= moment), key=lambda s: s["t"])
        share = (
            0.0
            if after["t"] == before["t"]
            else (moment - before["t"]) / (after["t"] - before["t"])
        )
        return {k: before[k] + share * (after[k] - before[k]) for k in before}


def process_groups(stack) -> dict[str, list[int]]:
    """The pids of the web server, the worker's main process, its worker processes, and
    the benchmark's own process."""
    consumer, web = stack.procs[0].pid, stack.procs[1].pid
    return {
        "web": [web, *children(web)],
        "consumer": [consumer],
        "workers": children(consumer),
        "bench": [os.getpid()],
    }


def probe_state(folder: Path) -> dict[str, dict]:
    """bench/probe.py's files, summed per role: {"web"|"worker": {"totals", "root_cpu",
    "events"}}."""
    state: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        body = json.loads(path.read_text())
        role = state.setdefault(body["role"], {"totals": {}, "root_cpu": 0.0, "events": {}})
        role["root_cpu"] += body["root_cpu"]
        for name, total in body["totals"].items():
            into = role["totals"].setdefault(name, dict.fromkeys(total, 0.0))
            for key, value in total.items():
                into[key] += value
        for kind, events in body["events"].items():
            role["events"].setdefault(kind, []).extend(events)
    return state


def timer_cpu(before: dict, after: dict, role: str, name: str, field: str = "own") -> float:
    """A timer's CPU seconds between two probe states: its own (without the timers inside
    it) or, with field="cpu", all of it."""
    new = after.get(role, {}).get("totals", {}).get(name, {}).get(field, 0.0)
    old = before.get(role, {}).get("totals", {}).get(name, {}).get(field, 0.0)
    return new - old


def root_cpu(before: dict, after: dict, role: str) -> float:
    return after.get(role, {}).get("root_cpu", 0.0) - before.get(role, {}).get("root_cpu", 0.0)


def events(state: dict, role: str, kind: str, began: float, end: float) -> list[list]:
    return [e for e in state.get(role, {}).get("events", {}).get(kind, []) if began <= e[0] <= end]


def round_parts(
    start: dict[str, float], end: dict[str, float], before: dict, after: dict, began: float
) -> dict[str, float]:
    """CPU seconds per part (PARTS' keys) of one round: ``start`` and ``end`` are the
    sampler's counters at the window's ends, ``before`` and ``after`` the probe's states."""
    spent = {k: end[k] - start[k] for k in start}

    def own(role: str, name: str) -> float:
        return timer_cpu(before, after, role, name)

    # The web's requests other than uploads are the benchmark's polls; only those that
    # began in the window count (the last ones come after the last result).
    polls = sum(cpu for _, cpu in events(after, "web", "polls", began, end["t"]))
    uploads = timer_cpu(before, after, "web", "web.upload", "cpu")
    processes = spent["web"] + spent["consumer"] + spent["workers"] + spent["bench"]
    return {
        "web.upload": own("web", "web.upload"),
        "web.intake": own("web", "web.intake"),
        "web.server": spent["web"] - uploads - polls,
        "queue.send": own("web", "queue.send") + own("worker", "queue.send"),
        "queue.consumer": spent["consumer"],
        "queue.celery": spent["workers"] - root_cpu(before, after, "worker"),
        "worker.claim": own("worker", "worker.claim"),
        "worker.setup": own("worker", "worker.task") + own("worker", "worker.pages"),
        "worker.engine": own("worker", "worker.engine"),
        "worker.writes": own("worker", "worker.writes") + own("worker", "worker.finish"),
        "step.extract_text": own("worker", "step.extract_text"),
        "step.language": own("worker", "step.language"),
        "step.classify": own("worker", "step.classify"),
        "model.encode": own("worker", "model.encode"),
        "bench.client": spent["bench"],
        "bench.polls": polls,
        "machine.other": spent["busy"] - processes,
        "machine.idle": spent["idle"],
    }


def queue_latency(state: dict, began: float, end: float) -> list[float]:
    """Seconds from each run message's send (after the upload's commit) to the start of
    its task on a worker, for the messages sent in the window (not the delayed re-sends), in
    the order they were sent. A round's first message finds the worker idle: its wait is
    the broker's; later ones also wait for a worker process to be free."""
    starts = events(state, "worker", "starts", began, end + 60)
    waits = []
    for sent, name, run_id, countdown in events(state, "web", "sends", began, end):
        if countdown is not None:
            continue
        later = [
            t for t, task, first, *_ in starts if task == name and first == run_id and t >= sent
        ]
        if later:
            waits.append(min(later) - sent)
    return waits


def window_end(state: dict, began: float, last_result: float) -> float:
    """The end of a round's window: the last result stored, or the end of the last task
    if it ended later (its last writes and its timers come after the result's time)."""
    ends = [
        e[0] for e in state.get("worker", {}).get("events", {}).get("ends", []) if e[0] >= began
    ]
    return max([last_result, *ends])


def first_start(state: dict, began: float, end: float) -> float | None:
    starts = [e[0] for e in events(state, "worker", "starts", began, end)]
    return min(starts) - began if starts else None


def summary(rounds: list[dict], documents: int, cores: int) -> dict:
    """Per document, over the measured rounds: core-milliseconds per part and per group of
    parts, checked against the rounds' wall time x cores."""
    count = len(rounds) * documents
    per_doc = {
        key: round(sum(r["parts"][key] for r in rounds) * 1000 / count, 3) for key, _, _ in PARTS
    }
    groups: dict[str, float] = {}
    for key, group, _ in PARTS:
        groups[group] = round(groups.get(group, 0.0) + per_doc[key], 3)
    wall = sum(r["window_s"] for r in rounds)
    waits = [w for r in rounds for w in r["queue_waits"]]
    firsts = [r["queue_waits"][0] for r in rounds if r["queue_waits"]]
    starts = [r["first_task_s"] for r in rounds if r["first_task_s"] is not None]
    return {
        "unit": "core-milliseconds per document (CPU time; idle cores count too)",
        "rounds": len(rounds),
        "documents_per_round": documents,
        "cores": cores,
        "wall_ms_per_doc": round(wall * 1000 / count, 3),
        "core_ms_per_doc": round(wall * cores * 1000 / count, 3),
        "sum_of_parts": round(sum(per_doc.values()), 3),
        "parts": [
            {"part": key, "group": group, "what": what, "core_ms_per_doc": per_doc[key]}
            for key, group, what in PARTS
        ],
        "groups": groups,
        "queue_latency_ms": {
            "first_message_median": _median_ms(firsts),
            "median": _median_ms(waits),
            "max": round(max(waits) * 1000, 1) if waits else None,
            "messages": len(waits),
        },
        "first_task_started_s": round(statistics.mean(starts), 3) if starts else None,
    }


def _median_ms(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 1) if seconds else None
