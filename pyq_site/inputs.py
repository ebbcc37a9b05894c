"""Reading numbers and JSON out of requests, strictly and within bounds.

Every view that takes a number from a query string or a path segment, or JSON from a body
or a form field, goes through these two functions, so that no input reaches Python's
``int()`` or ``json.loads()`` unchecked: ``str.isdigit()`` accepts "²" and "١" (which
``int()`` then refuses or reads as 1), deeply nested JSON raises RecursionError, and a
number like ``1e400`` becomes infinity. Both raise :class:`InputError`, whose message is
meant for the person who sent the request.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32  # a workflow's deepest part (a webhook payload) needs about 8
MAX_INT = 2**63 - 1  # the largest id a database column holds

_ASCII_INT = re.compile(r"[+-]?[0-9]{1,19}")


class InputError(ValueError):
    """A request value that cannot be used; ``str(exc)`` says why, in plain words."""


def parse_int(text: Any, *, minimum: int | None = None, maximum: int | None = MAX_INT) -> int:
    """An integer written in ASCII digits (an optional sign, at most 19 digits), within
    ``minimum``..``maximum``; InputError otherwise. "²", "١", "1.0", " 1" and "" are not."""
    if not isinstance(text, str) or not _ASCII_INT.fullmatch(text):
        raise InputError("not a whole number")
    number = int(text)
    if minimum is not None and number < minimum:
        raise InputError(f"less than {minimum}")
    if maximum is not None and number > maximum:
        raise InputError(f"more than {maximum}")
    return number


def optional_int(text: Any, **bounds: int | None) -> int | None:
    """parse_int, or None for any text that is not such a number."""
    try:
        return parse_int(text, **bounds)
    except InputError:
        return None


def load_json(
    data: str | bytes | bytearray,
    *,
    what: str = "The body",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse JSON sent by a person: at most ``max_bytes`` long and ``max_depth`` levels of
    arrays and objects deep, numbers finite (no NaN, no Infinity, no 1e400). ``what``
    names the value in the messages ("The body", "'pipeline'")."""
    if len(data) > max_bytes:
        raise InputError(f"{what} is too large: at most {_size(max_bytes)} of JSON.")
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotFinite:
        raise InputError(f"{what} holds a number too large to use.") from None
    except RecursionError:
        raise InputError(_too_deep(what, max_depth)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg}.") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not valid JSON: it is not UTF-8 text.") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError(f"{what} holds a number too large to use.") from None
    if depth_exceeds(value, max_depth):
        raise InputError(_too_deep(what, max_depth))
    return value


def depth_exceeds(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest more than ``max_depth`` levels (without recursion,
    so that any depth can be measured)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class _NotFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotFinite(text)
    return number


def _too_deep(what: str, max_depth: int) -> str:
    return f"{what} is nested too deeply: at most {max_depth} levels of arrays and objects."


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MB"
    if count >= 1024:
        return f"{count // 1024} KB"
    return f"{count} bytes"
