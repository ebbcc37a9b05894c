"""API rate limits per key and per organization (model calls at once: catalog/concurrency.py).

Counters live in the shared cache (settings.CACHES: Redis, or the database), so every web
process counts together and a restart forgives nothing. Each limit is a fixed window: a counter
per (key or organization, window) that expires with its window. Every authenticated response
says where its caller stands (RateLimit-Limit / -Remaining / -Reset, after the IETF draft); a
refused one is a 429 with Retry-After, the seconds until its window ends.

A key over its own limit is refused before its organization's counter moves, so one runaway
integration does not spend the budget of the organization's other keys.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse

PERIODS = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}
LOCK_WAIT = 1.0  # seconds to wait for a counter's lock on caches without an atomic increment


@dataclass(frozen=True)
class Usage:
    """One limit's state after a request: what a caller may still send, and when it resets."""

    scope: str  # "key" or "org"
    limit: int
    period: int  # seconds a window lasts
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def _increment(key: str, timeout: int) -> int:
    """Add one to a counter made on first use, atomically across processes."""
    if isinstance(caches["default"], RedisCache | LocMemCache):
        for _ in range(2):  # the counter may expire between add and incr: make it again
            cache.add(key, 0, timeout)
            try:
                return cache.incr(key)
            except ValueError:
                continue
        return cache.incr(key)
    # The database cache's incr is a read then a write: take a lock (cache.add is atomic on
    # the table's primary key) so that concurrent requests do not lose counts.
    with _lock(f"{key}:lock"):
        count = (cache.get(key) or 0) + 1
        cache.set(key, count, timeout)
        return count


@contextmanager
def _lock(key: str) -> Iterator[None]:
    deadline = time.monotonic() + LOCK_WAIT
    pause = 0.005
    while not cache.add(key, 1, timeout=10):
        if time.monotonic() > deadline:
            break  # a lock left by a crashed process: counting slightly loosely beats refusing
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    try:
        yield
    finally:
        cache.delete(key)


def _now() -> float:
    return time.time()


def _hit(scope: str, ident: object, rate: tuple[int, int]) -> Usage:
    limit, period = rate
    now = _now()
    window = int(now // period)
    ends = (window + 1) * period
    count = _increment(f"api-rate:{scope}:{ident}:{period}:{window}", timeout=period + 5)
    return Usage(scope, limit, period, count, max(1, math.ceil(ends - now)))


def consume(request: HttpRequest) -> Usage | None:
    """Count the request against its key's and its organization's limits.

    Returns the limit to report (the refused one, else the one with the least left), or None
    when no limit is set. The caller refuses the request when `usage.allowed` is false.
    """
    usages = []
    if settings.PYQ_API_RATE_PER_KEY:
        usages.append(_hit("key", request.api_key.pk, settings.PYQ_API_RATE_PER_KEY))
        if not usages[-1].allowed:
            return usages[-1]
    if settings.PYQ_API_RATE_PER_ORG:
        usages.append(_hit("org", request.org.pk, settings.PYQ_API_RATE_PER_ORG))
    if not usages:
        return None
    refused = [usage for usage in usages if not usage.allowed]
    return refused[0] if refused else min(usages, key=lambda usage: usage.remaining)


def add_headers(response: HttpResponse, usage: Usage) -> HttpResponse:
    response["RateLimit-Limit"] = str(usage.limit)
    response["RateLimit-Remaining"] = str(usage.remaining)
    response["RateLimit-Reset"] = str(usage.reset)
    return response


def too_many_requests(usage: Usage) -> HttpResponse:
    from api.auth import json_error  # api.auth imports this module

    whose = "this API key" if usage.scope == "key" else "your organization's API keys together"
    response = json_error(
        429,
        "rate_limited",
        f"Too many requests: {whose} may send {usage.limit} "
        f"{PERIODS.get(usage.period, f'in {usage.period} seconds')}. "
        f"Try again in {usage.reset} seconds.",
    )
    response["Retry-After"] = str(usage.reset)
    return add_headers(response, usage)


def with_rate_headers(view: Callable) -> Callable:
    """Put the caller's standing under its limits (set by `consume`) on every response."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        usage = getattr(request, "api_rate_usage", None)
        if usage is not None and "RateLimit-Limit" not in response:
            add_headers(response, usage)
        return response

    return wrapper
