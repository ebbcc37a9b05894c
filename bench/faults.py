"""The fault proof (issue 10): work handed to Pyq gets done, once, while processes die.

N text documents go through extract_text → classify → webhook (to a receiver on this
machine; a few of its answers are slow, so that kills land inside the webhook step) on
PostgreSQL and Redis with two Celery workers and celery beat. While they run, worker pool
processes and worker main processes are killed with SIGKILL at random moments and started
again the way a supervisor would, and Redis is stopped once for ``--outage`` seconds while
uploads go on. Then it checks, and prints as JSON:

- every run succeeded;
- every document's deliveries carry one delivery id (a repeat is recognisable as one);
- no document, run or step row is doubled;
- every upload answered during the outage was kept (201, its documents and files exist);
- how long after the last fault no run was left queued or running.

    .venv/bin/python bench/faults.py                        # 500 documents, 20 kills
    .venv/bin/python bench/faults.py --docs 100 --kills 5 --max-seconds 300  # CI's version
    .venv/bin/python bench/faults.py --kills 0 --outage 0   # the control run

Needs PostgreSQL (DATABASE_URL, default the local server) and ``redis-server`` on PATH; it
starts its own Redis on a free port and its own database, loopback only, and removes both.
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT
from bench.stack import Stack, free_port

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"
SLOW_EVERY = 10  # every tenth document's webhook answers slowly
SLOW_SECONDS = 1.5
CHUNK = 10  # files per upload request


class Receiver:
    """An HTTP receiver that records every delivery: document, X-Pyq-Delivery, time."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                name = body.get("document", {}).get("name", "")
                with receiver.lock:
                    receiver.deliveries.append(
                        (name, self.headers.get("X-Pyq-Delivery", ""), time.monotonic())
                    )
                if name.startswith("slow-"):
                    time.sleep(SLOW_SECONDS)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Redis:
    """A redis-server of our own on a free port, with its append-only file, stoppable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.folder), "--appendonly", "yes", "--save", ""]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class FaultStack(Stack):
    """Pyq with two workers and beat on PostgreSQL and our Redis; restarts what it is told."""

    def __init__(self, redis: Redis, workers: int) -> None:
        super().__init__(concurrency=1)
        self.env["PYQ_BROKER_URL"] = redis.url
        self.env["PYQ_ALLOW_PRIVATE_URLS"] = "true"  # the receiver is on this machine
        self.env.setdefault("DATABASE_URL", DEFAULT_DATABASE)
        self.workers: dict[str, subprocess.Popen] = {}
        self.worker_count = workers

    def start(self) -> FaultStack:
        self._fresh_database()
        self.manage("migrate", "--noinput")
        for n in range(1, self.worker_count + 1):
            self.start_worker(f"w{n}")
        beat = ["beat", "--loglevel", "INFO"]
        self.procs.append(self._celery(beat, "beat"))
        web = [sys.executable, "-m", "gunicorn", "pyq_site.wsgi", "-w", "1", "--threads", "4"]
        with (Path(self.dir) / "web.log").open("w") as log:
            self.procs.append(self._spawn([*web, "-b", f"127.0.0.1:{self.port}"], log))
        for name in self.workers:
            log = Path(self.dir) / f"{name}.log"
            self._wait(lambda log=log: "ready." in log.read_text(), f"worker {name}")
        self._wait(self._web_up, "the web server")
        return self

    def _celery(self, args: list[str], name: str) -> subprocess.Popen:
        with (Path(self.dir) / f"{name}.log").open("a") as log:
            return self._spawn([sys.executable, "-m", "celery", "-A", "pyq_site", *args], log)

    def start_worker(self, name: str) -> None:
        args = ["worker", "-Q", "default,ml", "--concurrency", "1", "-n", f"{name}@%h"]
        self.workers[name] = self._celery([*args, "--loglevel", "INFO"], name)

    def pool_children(self, name: str) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.workers[name].pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> None:
        self.procs.extend(self.workers.values())
        super().stop()


def documents(count: int) -> list[tuple[str, bytes]]:
    """Invoices and receipts in words, each its own; every SLOW_EVERY-th is answered slowly."""
    files = []
    for i in range(count):
        prefix = "slow-" if i % SLOW_EVERY == SLOW_EVERY - 1 else "doc-"
        if i % 2:
            text = (
                f"INVOICE No. {1000 + i}\nBill to: Customer {i}\nDue date 2026-12-{i % 28 + 1:02d}"
            )
            text += f"\nPayment terms 30 days\nTotal due {i * 3 + 17}.50 EUR\nIBAN DE89 3704 0044"
        else:
            text = f"Corner Cafe\nTill receipt {i}\nFlat white 3.20\nCash {i % 9 + 5}.00"
            text += f"\nChange {i % 7}.80\nThank you for your visit"
        files.append((f"{prefix}{i:04d}.txt", text.encode()))
    return files


PIPELINE = [
    {"id": "text", "step": "extract_text"},
    {"id": "type", "step": "classify", "config": {"labels": ["invoice", "receipt"]}},
    {"id": "send", "step": "webhook", "config": {"url": "", "attempts": 5, "timeout": 10}},
]


class Uploader:
    """Uploads the documents in chunks through the API, recording every answer."""

    def __init__(self, stack: FaultStack, key: str, receiver: Receiver) -> None:
        pipeline = json.loads(json.dumps(PIPELINE))
        pipeline[2]["config"]["url"] = receiver.url
        self.pipeline = json.dumps(pipeline)
        self.url = f"{stack.url}/api/v1/documents"
        self.client = requests.Session()
        self.client.headers["Authorization"] = f"Bearer {key}"
        self.answers: list[dict] = []
        self.during_outage = threading.Event()
        self.for_outage: list[list[tuple[str, bytes]]] = []  # uploaded while Redis is down

    def upload(self, chunk: list[tuple[str, bytes]]) -> None:
        files = [("file", (name, data, "text/plain")) for name, data in chunk]
        outage = self.during_outage.is_set()
        try:
            answer = self.client.post(
                self.url, files=files, data={"pipeline": self.pipeline}, timeout=60
            )
            status, body = answer.status_code, answer.text
        except requests.RequestException as exc:
            status, body = 0, repr(exc)
        self.answers.append(
            {"names": [n for n, _ in chunk], "status": status, "body": body[:500], "outage": outage}
        )

    def run(self, files: list[tuple[str, bytes]], pause: float) -> None:
        """Upload the files but the last two chunks, which wait for the outage."""
        chunks = [files[start : start + CHUNK] for start in range(0, len(files), CHUNK)]
        self.for_outage = chunks[-2:]
        for chunk in chunks[:-2]:
            self.upload(chunk)
            time.sleep(pause)


def run_states(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM automations_run GROUP BY status")
        return dict(rows.fetchall())


def wait_until_settled(database_url: str, timeout: float) -> float | None:
    """The moment (monotonic) no run is queued or running, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = run_states(database_url)
        if not states.get("queued") and not states.get("running"):
            return time.monotonic()
        time.sleep(0.5)
    return None


def inject_faults(stack: FaultStack, redis: Redis, uploader: Uploader, args, rng) -> dict:
    """Kill processes at random moments over ``args.window`` seconds; stop Redis once."""
    moments = sorted(rng.uniform(2, args.window) for _ in range(args.kills))
    outage_at = rng.uniform(args.window * 0.3, args.window * 0.6)
    began = time.monotonic()
    kills: list[dict] = []
    outage_done = args.outage <= 0  # a control run: no outage
    for moment in moments:
        if not outage_done and moment > outage_at:
            time.sleep(max(0.0, began + outage_at - time.monotonic()))
            outage(redis, uploader, args.outage)
            outage_done = True
        time.sleep(max(0.0, began + moment - time.monotonic()))
        wait_for_work(stack.env["DATABASE_URL"])
        kills.append(kill_one(stack, rng))
    if not outage_done:
        outage(redis, uploader, args.outage)
    elif not uploader.during_outage.is_set() and args.outage <= 0:
        time.sleep(max(0.0, began + args.window * 0.8 - time.monotonic()))
        for chunk in uploader.for_outage:  # no outage: the files kept for it go up now
            uploader.upload(chunk)
    return {"kills": kills, "last_fault": time.monotonic()}


def wait_for_work(database_url: str, timeout: float = 10.0) -> None:
    """Until some run is running (a kill should land inside work), at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while not run_states(database_url).get("running") and time.monotonic() < deadline:
        time.sleep(0.05)


def kill_one(stack: FaultStack, rng: random.Random) -> dict:
    name = rng.choice(sorted(stack.workers))
    children = stack.pool_children(name)
    main = rng.random() < 0.3 or not children  # about a third hit the worker's main process
    pid = stack.workers[name].pid if main else rng.choice(children)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return {"worker": name, "process": "gone", "pid": pid}
    if main:
        for child in children:  # a supervisor kills the whole group of a dead worker
            with_suppressed(os.kill, child, signal.SIGKILL)
        stack.workers[name].wait()
        time.sleep(1.0)  # a supervisor's pause before it starts the worker again
        stack.start_worker(name)
    return {"worker": name, "process": "main" if main else "pool", "pid": pid}


def with_suppressed(function, *args) -> None:
    with contextlib.suppress(ProcessLookupError):
        function(*args)


def outage(redis: Redis, uploader: Uploader, seconds: float) -> None:
    """Redis down for ``seconds``; the files kept for it are uploaded meanwhile."""
    redis.stop()
    uploader.during_outage.set()
    ends = time.monotonic() + seconds
    for chunk in uploader.for_outage:
        uploader.upload(chunk)
    time.sleep(max(0.0, ends - time.monotonic()))
    uploader.during_outage.clear()
    redis.start()


def check(stack: FaultStack, receiver: Receiver, uploader: Uploader, expected: list[str]) -> dict:
    url = stack.env["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        docs = conn.execute("SELECT original_name, file FROM automations_document").fetchall()
        failed = conn.execute(
            "SELECT d.original_name, r.error FROM automations_run r "
            "JOIN automations_document d ON d.id = r.document_id WHERE r.status <> 'succeeded'"
        ).fetchall()
        doubled_steps = conn.execute(
            "SELECT count(*) FROM (SELECT run_id, step_id FROM automations_steprun "
            "GROUP BY run_id, step_id HAVING count(*) > 1) AS doubled"
        ).fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM automations_run").fetchone()[0]
    names = [name for name, _ in docs]
    media = Path(stack.dir) / "media"
    missing_files = [name for name, file in docs if not (media / file).is_file()]
    by_document: dict[str, set[str]] = {}
    for name, delivery, _ in receiver.deliveries:
        by_document.setdefault(name, set()).add(delivery)
    two_ids = sorted(n for n, ids in by_document.items() if len(ids) > 1)
    outage_answers = [a for a in uploader.answers if a["outage"]]
    kept = [n for a in outage_answers if a["status"] == 201 for n in a["names"]]
    return {
        "documents_uploaded": len(expected),
        "documents_stored": len(names),
        "doubled_documents": len(names) - len(set(names)),
        "runs": runs,
        "runs_not_succeeded": len(failed),
        "failures": [{"document": n, "error": e} for n, e in failed[:10]],
        "doubled_step_rows": doubled_steps,
        "missing_files": missing_files[:10],
        "documents_delivered": len(by_document),
        "deliveries": len(receiver.deliveries),
        "repeated_deliveries": len(receiver.deliveries) - len(by_document),
        "documents_with_two_delivery_ids": two_ids,
        "uploads_during_outage": len(outage_answers),
        "uploads_during_outage_refused": [a for a in outage_answers if a["status"] != 201],
        "documents_uploaded_during_outage_kept": sum(n in set(names) for n in kept),
        "uploads_refused": [a for a in uploader.answers if a["status"] != 201][:5],
    }


def verdict(result: dict, expected: list[str], recovery: float | None, limit: float) -> list[str]:
    problems = []
    if result["documents_stored"] != len(expected) or result["doubled_documents"]:
        problems.append("documents lost or doubled")
    if result["runs_not_succeeded"] or result["runs"] != len(expected):
        problems.append("not every run succeeded once")
    if result["documents_delivered"] != len(expected):
        problems.append("not every document was delivered")
    if result["documents_with_two_delivery_ids"]:
        problems.append("a document was delivered under two delivery ids")
    if result["doubled_step_rows"] or result["missing_files"]:
        problems.append("doubled step rows or missing files")
    if result["uploads_refused"]:
        problems.append("an upload was refused")
    if recovery is None or recovery > limit:
        problems.append(f"not settled within {limit:g} s of the last fault")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis is down")
    parser.add_argument("--window", type=float, default=None, help="seconds to spread faults")
    parser.add_argument("--recovery-limit", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=None, help="fail if longer")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        print("bench/faults.py needs redis-server (apt-get install redis-server)", file=sys.stderr)
        return 2
    # A stop by SIGTERM still stops the stack, Redis and the receiver (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else random.randrange(10**6)  # noqa: S311 (chaos, not secrets)
    rng = random.Random(seed)  # noqa: S311
    files = documents(args.docs)
    args.window = args.window or max(30.0, args.docs * 0.12)
    folder = Path(tempfile.mkdtemp(prefix="pyq-faults-"))
    redis, receiver = Redis(folder), Receiver()
    redis.start()
    stack = FaultStack(redis, workers=2)
    try:
        stack.start()
        uploader = Uploader(stack, stack.api_key(), receiver)
        pause = args.window * 0.8 / max(1, len(files) // CHUNK)
        uploading = threading.Thread(target=uploader.run, args=(files, pause), daemon=True)
        started = time.monotonic()
        uploading.start()
        faults = inject_faults(stack, redis, uploader, args, rng)
        uploading.join()
        settled = wait_until_settled(stack.env["DATABASE_URL"], args.recovery_limit * 5)
        recovery = None if settled is None else round(max(0.0, settled - faults["last_fault"]), 1)
        result = check(stack, receiver, uploader, [name for name, _ in files])
        problems = verdict(result, files, recovery, args.recovery_limit)
        took = time.monotonic() - started
        if args.max_seconds and took > args.max_seconds:
            problems.append(f"took {took:.0f} s, more than {args.max_seconds:g} s")
        report = {
            "benchmark": "faults",
            "measured_at": time.strftime("%Y-%m-%d"),
            "seed": seed,
            "documents": args.docs,
            "kills": faults["kills"],
            "kills_of_main_processes": sum(k["process"] == "main" for k in faults["kills"]),
            "redis_outage_s": args.outage,
            "seconds": round(took, 1),
            "recovery_after_last_fault_s": recovery,
            **result,
            "passed": not problems,
            "problems": problems,
        }
    finally:
        stack.stop()
        redis.stop()
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
