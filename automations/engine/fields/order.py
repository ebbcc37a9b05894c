"""The order of an Extract fields output's fields: the order they were defined in.

The step writes its fields as an object and their names, in order, under ``order``: a JSON
object's keys come back from PostgreSQL's jsonb sorted its own way (shortest first), so
the list is what keeps the order people chose. Everything that shows or exports the fields
(the run and document pages, exports, the playground, the command line) reads them here.
"""

from __future__ import annotations


def ordered_fields(output: dict | None) -> list[tuple[str, dict]]:
    """The fields of an extract_fields output in the order they were defined (vendor first),
    even after a round trip through PostgreSQL's jsonb, which sorts keys its own way."""
    fields = (output or {}).get("fields") or {}
    order = [name for name in (output or {}).get("order", []) if name in fields]
    return [(name, fields[name]) for name in order + [n for n in fields if n not in order]]
