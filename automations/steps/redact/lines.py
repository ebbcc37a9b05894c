"""OCR lines: where a match is on the page, for the next steps' text and for black boxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from automations.engine.fields import PageText
from automations.steps.redact.detectors import Match, find_matches
from automations.steps.redact.patterns import Patterns
from automations.steps.redact.text import redact_text


def line_matches(
    page: PageText, matches: list[Match], kinds: Sequence[str], patterns: Patterns
) -> list[list[Match]]:
    """For each OCR line, the matches in it with offsets local to the line.

    Lines are found in the page text in order; a line that is not there verbatim (text
    normalised differently) is searched on its own.
    """
    result: list[list[Match]] = []
    cursor = 0
    text = page.text or ""
    for line in page.lines:
        at = text.find(line.text, cursor) if line.text else -1
        if at < 0:
            result.append(find_matches(line.text, kinds, patterns))
            continue
        end = at + len(line.text)
        cursor = end
        result.append(
            [
                replace(m, start=max(m.start, at) - at, end=min(m.end, end) - at)
                for m in matches
                if m.start < end and at < m.end
            ]
        )
    return result


def redacted_page(
    page: PageText, matches: list[Match], kinds: Sequence[str], patterns: Patterns, replacement: str
) -> PageText:
    """The page with its text and its OCR lines' text redacted (for the next steps)."""
    local_matches = line_matches(page, matches, kinds, patterns)
    lines = [
        replace(line, text=redact_text(line.text, local, replacement))
        for line, local in zip(page.lines, local_matches, strict=True)
    ]
    return replace(page, text=redact_text(page.text or "", matches, replacement), lines=lines)


def ocr_boxes(
    page: PageText,
    matches: list[Match],
    kinds: Sequence[str],
    patterns: Patterns,
    size: tuple[int, int],
) -> list[tuple[float, float, float, float]]:
    """Pixel boxes over the matched part of each OCR line, scaled to an image of ``size``.

    The horizontal span is estimated from character offsets (glyphs are about equally wide);
    half a character of margin on each side covers the error.
    """
    if not page.lines:
        return []
    sx = size[0] / page.width if page.width else 1.0
    sy = size[1] / page.height if page.height else 1.0
    boxes = []
    for line, local in zip(page.lines, line_matches(page, matches, kinds, patterns), strict=True):
        if not local or not line.text:
            continue
        x0, y0, x1, y1 = line.box
        per_char = (x1 - x0) / len(line.text)
        for m in local:
            left = x0 + per_char * (m.start - 0.5)
            right = x0 + per_char * (m.end + 0.5)
            boxes.append((max(left, x0) * sx, (y0 - 2) * sy, min(right, x1) * sx, (y1 + 2) * sy))
    return boxes
