"""Claiming runs for a worker: leases, and per-organization fairness.

A worker that claims a run writes its name (host:pid) and a short lease on it; its heartbeat
(recovery.Heartbeat) renews the lease every HEARTBEAT_SECONDS. Another worker (a redelivered
message, or the sweeper's nudge) may take a running run over once its lease has run out, or
at once when its holder was a process of this machine that is gone; a run whose holder is
alive is never taken twice (RunBusy).

An organization has at most PYQ_ORG_MAX_RUNNING runs running while other organizations'
runs wait; alone in the queue, it may use every idle worker. A run that cannot start yet
stays queued, and its task asks again a little later (queue.wait_for_slot): the message
stays with the broker until the run starts, so no wake-up can be lost.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import Organization
from automations.models import Run

QUEUE_ORDER = ("-is_test", "created_at", "pk")  # a builder's test first, then oldest first
OCR_KINDS = {"pdf", "png", "jpeg", "tiff"}
LEASE_SECONDS = 30  # how long a claim or a heartbeat holds a run
HEARTBEAT_SECONDS = 10.0  # how often a worker renews the leases of its runs
# A run that was stopped before it finished runs alone from then on, so a document that kills
# its worker takes no other document with it, and neighbours lost with it are not counted
# against; it is failed for good once it was stopped MAX_LOST_ALONE times while alone.
MAX_LOST_ALONE = 3
MAX_RUN_ATTEMPTS = 1 + MAX_LOST_ALONE  # its first start (maybe in a batch), then alone


class RunBusy(Exception):
    """A live worker holds the run (its lease is current): this message has nothing to do."""


def claim(run_id: int, batch_size: int = 1) -> list[Run] | None:
    """Mark the run (and up to batch_size - 1 other queued runs) running.

    Returns [] when the run is gone or finished, and None when it must wait for a slot of
    its organization; raises RunBusy when a live worker holds it (a redelivered message
    while the first worker still renews its lease). A running run whose holder is gone is
    taken over and resumes after its last finished step, unless it was started
    MAX_RUN_ATTEMPTS times already: then it is left to the sweeper, which fails it. A run
    started before (its worker was lost) is claimed alone, and never joins another's batch.

    No organization has more than PYQ_ORG_MAX_RUNNING runs running while another
    organization's runs wait (with nobody else waiting, idle workers take its runs): the rows of the
    organizations involved are locked while their running runs are counted (in pk order,
    after the run rows, so that two workers never wait on each other), and a queued run
    starts only when it is among the first in line for its organization's free slots
    (QUEUE_ORDER), so that older runs are not overtaken forever by newer ones.
    """
    now = timezone.now()
    limit = settings.PYQ_ORG_MAX_RUNNING
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_active:
            return []
        if run.status == Run.Status.RUNNING:
            if held(run, now):
                raise RunBusy(run_id)
            if run.attempts >= MAX_RUN_ATTEMPTS:
                return []  # lost too often: the sweeper fails it with a reason
        # (pk, organization id, pages that may need OCR) of queued candidates
        others: list[tuple[int, int, int]] = []
        if batch_size > 1 and run.attempts == 0:
            queued = Run.objects.filter(status=Run.Status.QUEUED, attempts=0).exclude(pk=run.pk)
            if connection.features.has_select_for_update_skip_locked:
                queued = queued.select_for_update(skip_locked=True, of=("self",))
            # More than a batch: some may belong to organizations that are at their limit.
            window = batch_size * 2 if limit else batch_size - 1
            others = [
                (pk, org, _ocr_pages(kind, pages))
                for pk, org, kind, pages in queued.order_by(*QUEUE_ORDER).values_list(
                    "pk", "organization_id", "document__kind", "pages_total"
                )[:window]
            ]
        orgs = {run.organization_id, *(org for _, org, _ in others)}
        if limit and _alone_in_queue(run.organization_id, orgs):
            limit = 0  # nobody else waits: idle workers take this organization's runs too
        free = _free_slots(orgs, limit)
        if run.status == Run.Status.QUEUED and not _first_in_line(run, free):
            return None
        ids = [run.pk]
        if run.status == Run.Status.QUEUED:
            _take_slot(free, run.organization_id)
        pages = _ocr_pages(run.document.kind, run.pages_total)
        for pk, org, ocr_pages in others:
            if len(ids) >= batch_size:
                break
            if pages + ocr_pages > settings.PYQ_BATCH_PAGES:
                continue  # a scan too many for this batch; a smaller document may still fit
            if _take_slot(free, org):
                ids.append(pk)
                pages += ocr_pages
        Run.objects.filter(pk__in=ids).update(
            status=Run.Status.RUNNING,
            heartbeat_at=now,
            worker=worker_name(),
            lease_until=now + timedelta(seconds=LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
        Run.objects.filter(pk__in=ids, started_at__isnull=True).update(started_at=now)
    return list(
        Run.objects.filter(pk__in=ids)
        .select_related("document", "organization")
        .prefetch_related("steps")
        .order_by("pk")
    )


def _ocr_pages(kind: str, pages: int) -> int:
    """The pages of a document that may need OCR (seconds each): images and PDFs. Text,
    Word and mail documents are read in milliseconds and count as none."""
    return max(1, pages) if kind in OCR_KINDS else 0


def worker_name() -> str:
    """This process as the holder of a run: its host name and process id. Computed at each
    claim, since Celery's pool processes are forked after this module is imported."""
    return f"{socket.gethostname()}:{os.getpid()}"


def held(run: Run, now: datetime) -> bool:
    """Whether a live worker holds this running run: its lease has not run out and its
    holder is not a process of this machine that is gone. A run claimed before leases
    existed (no lease_until) is held while its heartbeat is younger than legacy_lease()."""
    if run.lease_until is None:
        return run.heartbeat_at is not None and run.heartbeat_at > now - legacy_lease()
    return run.lease_until > now and not holder_gone(run.worker)


def holder_gone(worker: str) -> bool:
    """Whether `worker` (host:pid) was a process of this machine that no longer runs. A
    holder on another machine is never known to be gone: its lease decides."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not _process_alive(int(pid))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process has this id
    try:  # a killed process its parent has not reaped yet is a zombie: gone too
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return True
    return not state or state[0] not in {"Z", "X"}


def legacy_lease() -> timedelta:
    """How long the heartbeat of a run claimed without a lease (by a worker of the version
    before leases, during an upgrade) holds it: a step's time limit and two minutes."""
    return timedelta(seconds=settings.PYQ_STEP_TIME_LIMIT + 120)


def _free_slots(org_ids: set[int], limit: int) -> dict[int, int] | None:
    """Free slots per organization, with the organizations' rows locked until the end of
    the transaction; None when there is no limit (PYQ_ORG_MAX_RUNNING=0)."""
    if not limit:
        return None
    list(Organization.objects.select_for_update().filter(pk__in=org_ids).order_by("pk"))
    running = dict(
        Run.objects.filter(status=Run.Status.RUNNING, organization__in=org_ids)
        .values_list("organization")
        .annotate(n=Count("pk"))
        .values_list("organization", "n")
    )
    return {org: max(0, limit - running.get(org, 0)) for org in org_ids}


def _alone_in_queue(org_id: int, orgs: set[int]) -> bool:
    """Whether the organization's runs are the only ones waiting. The limit on running runs is
    there to share the workers fairly; with no other organization waiting it would only leave
    workers idle (one organization's upload fills a batch: the next worker would wait)."""
    if orgs != {org_id}:
        return False
    return not Run.objects.filter(status=Run.Status.QUEUED).exclude(organization=org_id).exists()


def _first_in_line(run: Run, free: dict[int, int] | None) -> bool:
    """Whether a queued run may take one of its organization's free slots: fewer queued
    runs of that organization come before it than there are free slots."""
    if free is None:
        return True
    slots = free.get(run.organization_id, 0)
    if slots <= 0:
        return False
    earlier = Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk)
    before = Q(is_test=True) if not run.is_test else Q(pk__in=[])
    ahead = Run.objects.filter(
        Q(is_test=run.is_test) & earlier | before,
        status=Run.Status.QUEUED,
        organization=run.organization_id,
    ).exclude(pk=run.pk)
    return ahead[:slots].count() < slots


def _take_slot(free: dict[int, int] | None, org: int) -> bool:
    if free is None:
        return True
    if free.get(org, 0) <= 0:
        return False
    free[org] -= 1
    return True
