"""How many model calls (the predict API and the playground) one organization runs at once.

A call holds one of the organization's PYQ_ORG_MAX_PREDICT slots while it waits for the worker.
A slot is a cache entry made with cache.add (atomic in Redis and in the database cache), shared
by every web process, with an expiry past the longest a call may wait, so a slot of a crashed
process frees itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

RETRY_AFTER = 5  # seconds: a model call usually answers within a few


def _slot_key(org_pk: int, slot: int) -> str:
    return f"model-calls:{org_pk}:{slot}"


@contextmanager
def model_slot(org) -> Iterator[bool]:
    """Hold one of the organization's slots; yields False when all are taken."""
    limit = settings.PYQ_ORG_MAX_PREDICT
    if not limit:
        yield True
        return
    token = uuid.uuid4().hex
    timeout = settings.PYQ_PLAYGROUND_TIMEOUT + 60
    held = next(
        (k for k in (_slot_key(org.pk, i) for i in range(limit)) if cache.add(k, token, timeout)),
        None,
    )
    if held is None:
        yield False
        return
    try:
        yield True
    finally:
        if cache.get(held) == token:  # not a slot that expired and went to another call
            cache.delete(held)


def busy_message() -> str:
    limit = settings.PYQ_ORG_MAX_PREDICT
    calls = "model call" if limit == 1 else "model calls"
    return (
        f"Your organization already has {limit} {calls} running, the most at once. "
        "Try again in a few seconds."
    )
