"""The playground's and the predict API's short model calls, run on the ml queue."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time

from celery import shared_task
from celery.signals import celeryd_init, worker_process_init
from django.conf import settings
from django.core.files.storage import default_storage

from catalog.predict import PredictError, PredictInput, predict
from catalog.routes import PREDICT

log = logging.getLogger(__name__)


@shared_task(name=PREDICT, ignore_result=False, acks_late=False)
def predict_task(
    slug: str,
    text: str | None = None,
    staged: str | None = None,
    file_name: str = "document",
    options: dict | None = None,
    with_images: bool = False,
) -> dict:
    """Returns the prediction, or {"input_error": message} for input the caller must fix.

    acks_late is off on purpose: a playground call lost with its worker is retried by the
    person, not redelivered to run a second time after they gave up.
    """
    path = None
    try:
        if staged:
            path = _local_copy(staged)
        return predict(
            slug,
            PredictInput(text=text, file_path=path, file_name=file_name, options=options),
            ocr_engine=settings.PYQ_OCR_ENGINE,
            step_time_limit=settings.PYQ_PLAYGROUND_TIMEOUT,
            with_images=with_images,
        )
    except PredictError as exc:
        return {"input_error": str(exc)}
    finally:
        if path:
            os.unlink(path)
        if staged:
            default_storage.delete(staged)


def _local_copy(name: str) -> str:
    suffix = os.path.splitext(name)[1]
    fd, path = tempfile.mkstemp(prefix="pyq-try-", suffix=suffix)
    with os.fdopen(fd, "wb") as out, default_storage.open(name, "rb") as src:
        while chunk := src.read(1024 * 1024):
            out.write(chunk)
    return path


@celeryd_init.connect
def _remember_concurrency(sender=None, conf=None, options=None, **kwargs) -> None:
    # Forked worker processes inherit the environment: they size torch's thread pool by it.
    concurrency = (options or {}).get("concurrency") or os.cpu_count() or 1
    os.environ["PYQ_WORKER_CONCURRENCY"] = str(concurrency)


@worker_process_init.connect
def _size_torch_threads(**kwargs) -> None:
    """Each worker process gets cores / concurrency torch threads, so that processes don't
    fight over the cores (PYQ_TORCH_THREADS overrides)."""
    from catalog.runtime.embeddings import configure_torch_threads

    concurrency = int(os.environ.get("PYQ_WORKER_CONCURRENCY", "1"))
    configure_torch_threads(settings.PYQ_TORCH_THREADS or None, concurrency=concurrency)


@worker_process_init.connect
def _preload_models(**kwargs) -> None:
    """Load MiniLM in a new worker process before its first task needs it (PYQ_PRELOAD_MODELS).
    In a thread: the process takes tasks at once, and a task that needs the model meanwhile
    waits for this load instead of starting a second one."""
    if settings.PYQ_PRELOAD_MODELS:
        threading.Thread(target=preload_models, name="pyq-preload", daemon=True).start()


def preload_models() -> float:
    """Load and warm the default embedder; returns the seconds it took."""
    from catalog.runtime.embeddings import load_embedder

    began = time.perf_counter()
    try:
        load_embedder("minilm").encode(["warm up"])
    except Exception:  # the first task that needs it will report the problem
        log.exception("preloading MiniLM failed")
        return 0.0
    spent = time.perf_counter() - began
    log.info("preloaded MiniLM in %.1f s (pid %s)", spent, os.getpid())
    return spent
