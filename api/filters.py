"""Query parameters of the API's lists and exports, read strictly: a bad one is a 400."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from pyq_site.inputs import InputError


class ParameterError(InputError):
    """A query parameter that cannot be used; `code` for the JSON error, the message for people."""

    code = "invalid_parameter"


def refuse_unknown(request: HttpRequest, known: set[str]) -> None:
    """A misspelt filter would be silently ignored: name it instead."""
    unknown = sorted(set(request.GET) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise ParameterError(f"Unknown parameter {unknown[0]!r}; the parameters are {names}.")


def moment(request: HttpRequest, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time from the query (None when absent). A date stands for its
    whole day in the server's time zone: its start, or with `end` its last moment; a date-time
    without a zone is in the server's time zone."""
    raw = request.GET.get(name)
    if raw is None:
        return None
    try:
        when = parse_datetime(raw)
        day = None if when else parse_date(raw)
    except ValueError:
        when = day = None
    if day is not None:
        when = datetime.combine(day, time.max if end else time.min)
    if when is None:
        raise ParameterError(
            f"{name} must be a date (2026-11-30) or a date and time (2026-11-30T09:00:00Z)."
        )
    try:
        # In UTC: PostgreSQL refuses offsets past 15:59 that Python accepts (up to 23:59).
        return (timezone.make_aware(when) if timezone.is_naive(when) else when).astimezone(UTC)
    except (OverflowError, ValueError):
        raise ParameterError(f"{name} is out of range.") from None


def day(request: HttpRequest, name: str) -> date | None:
    """An ISO 8601 date (2026-11-30) from the query, or None when absent."""
    raw = request.GET.get(name)
    if raw is None:
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ParameterError(f"{name} must be a date such as 2026-11-30.")
    return parsed


def ordered(since, until, names: tuple[str, str] = ("since", "until")) -> None:
    if since is not None and until is not None and since > until:
        raise ParameterError(f"{names[1]} must be on or after {names[0]}.")
