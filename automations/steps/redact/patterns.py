"""Redact's own patterns: compiled once, refused when broken or when they can backtrack
forever, and searched with a time bound."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import regex

from automations.engine.steps import StepConfigError, StepFailed

# A pattern's name and its compiled form, as compile_patterns returns them.
Patterns = Sequence[tuple[str, regex.Pattern[str]]]

MAX_PATTERN_LENGTH = 200
# Seconds one custom pattern may search one text: the last bound on a pattern that backtracks
# in a way the nested-repeat check cannot see, like (a|a)*b.
PATTERN_TIMEOUT = 2.0
MAX_PATTERNS = 20


def custom_spans(name: str, pattern: regex.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Where ``pattern`` matches ``text``; a search past PATTERN_TIMEOUT fails the step."""
    try:
        return [m.span() for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT)]
    except TimeoutError:
        raise StepFailed(
            f"Redact: pattern {name!r} took too long on this document (it can try too many "
            "ways to match). Make it simpler, for example without alternatives that match "
            "the same text, then retry the run."
        ) from None


def compile_patterns(patterns: Sequence[dict]) -> list[tuple[str, regex.Pattern[str]]]:
    """Compile the user's patterns, refusing broken ones and ones that can backtrack forever.

    Python's ``re`` has no timeout, so patterns are limited in length and nested repeats
    such as ``(a+)+`` (exponential on a near-miss) are refused up front.
    """
    compiled = []
    for item in patterns:
        name, source = item["name"], item["regex"]
        if len(source) > MAX_PATTERN_LENGTH:
            raise StepConfigError(
                f"Redact: pattern {name!r} is longer than {MAX_PATTERN_LENGTH} characters."
            )
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise StepConfigError(f"Redact: pattern {name!r} is not a valid regex: {exc}.") from exc
        if _has_nested_repeat(source):
            raise StepConfigError(
                f"Redact: pattern {name!r} repeats a group that itself repeats (like (a+)+); "
                "such patterns can run for hours on some texts. Write it without the nesting."
            )
        if pattern.fullmatch(""):
            raise StepConfigError(f"Redact: pattern {name!r} matches empty text.")
        # Matched by the regex module (the same syntax as re's, VERSION0), which has a timeout.
        compiled.append((name, regex.compile(source, regex.VERSION0)))
    return compiled


def _has_nested_repeat(source: str) -> bool:
    # re's own parser (private, so typeshed has no stubs for it) tells the pattern's shape.
    import re._constants as c  # type: ignore[import-not-found]
    import re._parser as parser  # type: ignore[import-not-found]

    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}

    def children(op: Any, av: Any) -> list[Any]:
        if op in repeats:
            return [av[2]]
        if op is c.SUBPATTERN:
            return [av[3]]
        if op is c.BRANCH:
            return list(av[1])
        if op in (c.ASSERT, c.ASSERT_NOT):
            return [av[1]]
        if op is c.ATOMIC_GROUP:
            return [av]
        if op is c.GROUPREF_EXISTS:
            return [p for p in av[1:] if p is not None]
        return []

    def walk(items: Any, inside_repeat: bool) -> bool:
        for op, av in items:
            variable = op in repeats and av[1] > av[0]
            if variable and inside_repeat:
                return True
            many = op in repeats and av[1] > 1
            if any(walk(child, inside_repeat or many) for child in children(op, av)):
                return True
        return False

    return walk(parser.parse(source), inside_repeat=False)
