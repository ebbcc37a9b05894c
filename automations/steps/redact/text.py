"""Redact's text: matches replaced, and the step's text output with masked previews."""

from __future__ import annotations

from collections.abc import Sequence

from automations.engine.fields import PageText
from automations.steps.redact.detectors import Match


def replacement_for(match: Match, value: str, replacement: str) -> str:
    """One character fills the match to its length (offsets stay valid); otherwise the
    replacement text, where ``{kind}`` becomes the kind or the pattern's name."""
    if len(replacement) == 1:
        return "".join(ch if ch == "\n" else replacement for ch in value)
    return replacement.replace("{kind}", match.label)


def redact_text(text: str, matches: Sequence[Match], replacement: str = "█") -> str:
    """``text`` with every match replaced (see replacement_for)."""
    out, cursor = [], 0
    for match in sorted(matches, key=lambda m: m.start):
        out.append(text[cursor : match.start])
        out.append(replacement_for(match, text[match.start : match.end], replacement))
        cursor = match.end
    out.append(text[cursor:])
    return "".join(out)


def mask_preview(kind: str, value: str) -> str:
    """Enough to recognise which value was redacted, not enough to recover it."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind in ("phone", "card", "iban"):
        keep = 4 if kind == "card" else 2
        countable = [i for i, ch in enumerate(value) if ch.isalnum()]
        hidden = set(countable[:-keep])
        if kind == "iban":
            hidden -= set(countable[:2])  # the country code says which bank system
        return "".join("*" if i in hidden else ch for i, ch in enumerate(value))
    return f"{value[:1]}***" if len(value) > 3 else "***"


def text_output(pages: list[PageText], by_page: dict[int, list[Match]], replacement: str) -> dict:
    """The redacted text of each page, the matches with masked previews, counts by kind."""
    text_by_page: dict[str, str] = {}
    matches: list[dict] = []
    counts: dict[str, int] = {}
    for page in pages:
        text = page.text or ""
        found = by_page[page.number]
        # String keys: the output is stored as JSON, which has no integer keys.
        text_by_page[str(page.number)] = redact_text(text, found, replacement)
        for m in found:
            entry = {
                "kind": m.kind,
                "page": page.number,
                "start": m.start,
                "end": m.end,
                "preview": mask_preview(m.kind, text[m.start : m.end]),
            }
            if m.kind == "custom":
                entry["pattern"] = m.label
            matches.append(entry)
            counts[m.kind] = counts.get(m.kind, 0) + 1
    return {"text_by_page": text_by_page, "matches": matches, "counts": counts}
