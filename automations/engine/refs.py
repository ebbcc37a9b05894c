"""References to earlier steps' outputs: ``"<step id>.<key>.<key>..."``.

``"fields.fields.total.value"`` is the ``fields`` step's output, its ``fields`` object, the
``total`` entry and its ``value``; a number indexes a list (``"type.top.0.label"``).
Configuration properties whose values are references say so in their step's JSON schema
with ``"x-ref": "value"`` (one reference) or ``"x-ref": "map"`` (an object of name ->
reference, like the webhook's ``payload``); the builder offers a picker for those, and the
engine records what they resolved to as the step's input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from automations.engine.spec import STEP_ID

# A step id (the spec's rule), then keys without dots or spaces.
REFERENCE = re.compile(STEP_ID.pattern.removesuffix("$") + r"(\.[^.\s]+)*$")
MAX_DEPTH = 6
MAX_LIST_ITEMS = 20  # flatten offers the first items of a list, not all of a long one


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(REFERENCE.match(value))


def step_of(reference: str) -> str:
    """The step id a reference starts with."""
    return reference.split(".", 1)[0]


def lookup(outputs: dict[str, Any], reference: str) -> tuple[bool, Any]:
    """(found, value): follow the reference into the outputs; a number indexes a list."""
    value: Any = outputs
    for part in reference.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and _is_index(part) and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _is_index(part: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return part.isascii() and part.isdigit() and len(part) <= 9


def resolve(outputs: dict[str, Any], reference: str) -> Any:
    """The value a reference points at, or None when it finds nothing (a step that was
    skipped, or that did not produce that key)."""
    return lookup(outputs, reference)[1]


def flatten(
    outputs: dict[str, Any], max_depth: int = MAX_DEPTH, max_items: int = MAX_LIST_ITEMS
) -> list[tuple[str, Any]]:
    """Every leaf path of the outputs with its value, in order: what a picker can offer.

    Scalars are leaves, and so are empty objects and lists, and anything deeper than
    ``max_depth`` keys (counting the step id). Keys that cannot be written in a reference
    (with a dot or a space) are left out, as are list items past ``max_items``.
    """
    return list(_leaves(outputs, "", max_depth, max_items))


def _leaves(value: Any, prefix: str, depth: int, max_items: int) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value and depth > 0:
        for key, inner in value.items():
            key = str(key)
            if not key or "." in key or any(c.isspace() for c in key):
                continue
            yield from _leaves(inner, f"{prefix}.{key}" if prefix else key, depth - 1, max_items)
    elif isinstance(value, list) and value and depth > 0 and prefix:
        for index, inner in enumerate(value[:max_items]):
            yield from _leaves(inner, f"{prefix}.{index}", depth - 1, max_items)
    elif prefix:
        yield prefix, value


def refs_in(value: Any) -> list[str]:
    """The references in the value of an x-ref property: a string (``"value"``), the
    values of an object (``"map"``), or the strings of a list, in order, without repeats."""
    found: list[str] = []
    if isinstance(value, str):
        candidates: list[Any] = [value]
    elif isinstance(value, dict):
        candidates = list(value.values())
    elif isinstance(value, list):
        candidates = [v for item in value for v in (refs_in(item) if item is not None else [])]
    else:
        candidates = []
    for candidate in candidates:
        if is_reference(candidate) and candidate not in found:
            found.append(candidate)
    return found


def config_refs(schema: dict, config: Any) -> list[tuple[str, str]]:
    """(config path, reference) for every value of a property marked "x-ref" in the
    schema, e.g. ("payload.total", "fields.fields.total.value"). Follows nested objects
    ("properties", "additionalProperties") and arrays ("items")."""
    return list(_config_refs(schema, config, ""))


def _config_refs(schema: Any, value: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(schema, dict) or value is None:
        return
    mark = schema.get("x-ref")
    if mark == "value":
        if is_reference(value):
            yield path, value
        return
    if mark == "map":
        if isinstance(value, dict):
            for name, reference in value.items():
                if is_reference(reference):
                    yield _join(path, str(name)), reference
        return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, inner in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            yield from _config_refs(sub, inner, _join(path, str(key)))
    elif isinstance(value, list):
        items = schema.get("items")
        for index, inner in enumerate(value):
            yield from _config_refs(items, inner, _join(path, str(index)))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def output_hints(step: Any, config: dict | None = None) -> list[str]:
    """The paths a step's output usually has, for the picker before any test run: the
    step's ``hints_for(config)`` when it has one (extract_fields knows its preset's
    fields), else its ``output_hints``."""
    hints_for = getattr(step, "hints_for", None)
    if hints_for is not None and config is not None:
        return list(hints_for(config))
    return list(getattr(step, "output_hints", None) or [])
