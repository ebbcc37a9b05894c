"""The email step's templates: plain text with ``{{ name }}`` placeholders, nothing else,
checked when a workflow is saved and filled when the step runs; and the fields as text, as
an HTML table and as a CSV file's name."""

from __future__ import annotations

import html
import re
from pathlib import PurePath

from automations.engine.steps import StepConfigError

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
TAG = re.compile(r"\{%|\{#")


def check_template(label: str, key: str, template: str, known: set[str] | None) -> None:
    """Refuse tags, comments, filters and, when ``known`` is given, names not in it."""
    if TAG.search(template):
        raise StepConfigError(
            f"{label}: {key}: only {{{{ name }}}} placeholders can be used, not {{% %}} tags "
            "or {# #} comments."
        )
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1)
        if not name or any(c in name for c in "|{}%"):
            raise StepConfigError(
                f"{label}: {key}: {match.group(0)!r} is not a placeholder; write {{{{ name }}}} "
                "with the name of a field (filters are not supported)."
            )
        if known is not None and name not in known:
            choices = ", ".join(sorted(known))
            raise StepConfigError(
                f"{label}: {key}: {{{{ {name} }}}} is not a field; use one of {choices}."
            )


def render(template: str, values: dict[str, str], missing: set[str]) -> str:
    """Replace each ``{{ name }}`` by its value ("" and a note in ``missing`` if unknown)."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            missing.add(name)
            return ""
        return values[name]

    return PLACEHOLDER.sub(substitute, template)


def texts(values: dict[str, str | None]) -> dict[str, str]:
    """The values for the text body: a missing value is empty."""
    return {name: "" if value is None else value for name, value in values.items()}


def fields_text(values: dict[str, str | None]) -> str:
    """``{{ fields }}`` in the text body: one "name: value" line per field."""
    return "\n".join(f"{name}: {'' if v is None else v}" for name, v in values.items())


def fields_html(values: dict[str, str | None]) -> str:
    """``{{ fields }}`` in the HTML body: a table, names and values escaped."""
    rows = "".join(
        f'<tr><th align="left">{html.escape(name)}</th><td>{html.escape(v or "")}</td></tr>'
        for name, v in values.items()
    )
    return f"<table>{rows}</table>" if rows else ""


def csv_filename(document_name: str) -> str:
    """The attached CSV's name: the document's, safe in a file name, with "-fields.csv"."""
    stem = re.sub(r"[^\w.-]+", "-", PurePath(document_name).stem).strip(".-")[:80]
    return f"{stem or 'document'}-fields.csv"
