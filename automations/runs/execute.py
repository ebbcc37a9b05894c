"""Execute runs on a worker: their pipeline of steps over their documents, in batches.

A run is executed together with other queued runs of the same pipeline, so that model steps
batch across documents. A finished run is left alone, and every failure ends the run with a
message a person understands; what goes wrong for one document (its file gone, a crash in a
step, results the database refuses) fails that run alone and the others go on (faults.py).
Claiming (and fairness between organizations) is claim.py's, the rows written are store's,
what steps ask of the world is services.py's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from automations.documents import local_path
from automations.engine.pipeline import RetryPolicy, parse_pipeline, run_pipeline_batch
from automations.engine.steps import DocumentInfo, StepContext
from automations.models import Page, Run
from automations.pipelines import DEFAULT_PIPELINE
from automations.runs.claim import RunBusy, claim
from automations.runs.faults import BATCH_ERRORS, MISSING_FILE, fault
from automations.runs.recovery import Heartbeat, fail_running_steps, finish, finish_succeeded
from automations.runs.services import RunServices
from automations.runs.store import BatchWriter, StepRunStore, page_text, pages_of

log = logging.getLogger(__name__)

# The engine's pause between attempts of a step that failed for a passing reason; tests
# replace it so that they do not wait.
sleep = time.sleep


def execute_run(run_id: int, *, batch_size: int | None = None) -> bool:
    """Execute a run, together with up to batch_size - 1 other queued runs of the same
    pipeline, so that model steps batch across documents. Messages of runs taken this way
    find them finished later and return.

    Returns False when the run cannot start yet because its organization already has
    PYQ_ORG_MAX_RUNNING runs running (or older runs of it are first in line): it stays
    queued, and the caller asks again later. True otherwise (also when the run was gone
    or finished)."""
    runs = claim(run_id, batch_size or settings.PYQ_BATCH_SIZE)
    if runs is None:
        return False
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(json.dumps(run.pipeline, sort_keys=True), []).append(run)
    with Heartbeat([run.pk for run in runs]):
        for group in groups.values():
            _execute_group(group)
    return True


def execute_runs(run_ids: list[int]) -> list[int]:
    """Execute the runs of one message, a batch at a time (see execute_run, which also takes
    other queued runs). A running one is tried too: claim takes it over if its worker is
    gone, and leaves it (RunBusy) if not. Returns the runs that are still queued and could
    not be started here, for the caller to send again on their own."""
    remaining = list(run_ids)
    left: list[int] = []
    while remaining:
        active = set(
            Run.objects.filter(pk__in=remaining, status__in=Run.ACTIVE).values_list("pk", flat=True)
        )
        remaining = [pk for pk in remaining if pk in active]
        if not remaining:
            break
        head, remaining = remaining[0], remaining[1:]
        try:
            started = execute_run(head)
        except RunBusy:
            continue
        if not started:
            left.append(head)  # not taken (its organization is at its limit): later
    return left


def _execute_group(runs: list[Run]) -> None:
    try:
        errors = _execute(runs)
    except (OperationalError, InterfaceError):
        raise  # transient: the task retries with backoff; the runs resume where they stopped
    except SoftTimeLimitExceeded:
        message = (
            f"Processing this document took longer than the {settings.PYQ_RUN_TIME_LIMIT} s "
            "limit. Split it into smaller files."
        )
        for run in runs:
            fail_running_steps(run, message)
            finish(run, Run.Status.FAILED, message)
        return
    except Exception:
        log.exception("runs %s failed unexpectedly", [run.pk for run in runs])
        for run in runs:
            message = (
                f"Something went wrong on our side while processing this document (run "
                f"{run.pk}). It has been logged; retry it later."
            )
            fail_running_steps(run, message)
            finish(run, Run.Status.FAILED, message)
        raise
    succeeded = [run for run, error in zip(runs, errors, strict=True) if not error]
    finish_succeeded(succeeded)
    for run, error in zip(runs, errors, strict=True):
        if error:
            fail_running_steps(run, error)  # a step its fault left running
            finish(run, Run.Status.FAILED, error)


def _execute(runs: list[Run]) -> list[str | None]:
    """Run the pipeline over the runs; per run, None or why it failed. A run whose document
    cannot be opened fails alone before the steps start."""
    steps = parse_pipeline(runs[0].pipeline or DEFAULT_PIPELINE)
    pages = pages_of([run.document_id for run in runs])
    writer = BatchWriter(runs)
    failures: dict[int, str] = {}
    with contextlib.ExitStack() as stack:
        items, ready = [], []
        for run in runs:
            try:
                items.append(_item(run, pages.get(run.document_id, []), writer, stack))
            except BATCH_ERRORS:
                raise
            except Exception as exc:
                failures[run.pk] = _unopened(run, exc)
            else:
                ready.append(run)
        try:
            errors = run_pipeline_batch(
                steps,
                items,
                step_time_limit=settings.PYQ_STEP_TIME_LIMIT,
                retry=retry_policy(),
                batch_errors=BATCH_ERRORS,
            )
        finally:
            writer.flush()  # what a failure left gathered
    failures.update({run.pk: error for run, error in zip(ready, errors, strict=True) if error})
    for run_id, reason in writer.broken.items():
        failures.setdefault(run_id, reason)
    return [failures.get(run.pk) for run in runs]


def _item(
    run: Run, pages: list[Page], writer: BatchWriter, stack: contextlib.ExitStack
) -> tuple[StepContext, StepRunStore]:
    """What the engine runs for one run: its context (the document, opened on this machine,
    and its stored pages) and the store of its step rows."""
    document = run.document
    services = RunServices(run, [page_text(page) for page in pages], writer)
    context = StepContext(
        document=DocumentInfo(
            name=document.original_name,
            kind=document.kind,
            path=stack.enter_context(local_path(document)),
            page_count=document.page_count,
        ),
        pages=list(services.pages),
        services=services,
    )
    return context, StepRunStore(run, services, writer)


def _unopened(run: Run, exc: Exception) -> str:
    """Why a run failed when its document could not be opened, logged."""
    if isinstance(exc, FileNotFoundError):
        log.warning("run %s: the file of document %s is missing", run.pk, run.document_id)
        return MISSING_FILE
    log.error("run %s: its document could not be opened", run.pk, exc_info=exc)
    return fault("opening this document", exc)


def retry_policy() -> RetryPolicy:
    """How the engine retries a step that failed for a reason that may pass."""
    return RetryPolicy(
        attempts=settings.PYQ_STEP_RETRY_ATTEMPTS,
        base=settings.PYQ_STEP_RETRY_BASE,
        sleep=_pause,
    )


def _pause(seconds: float) -> None:
    sleep(seconds)
