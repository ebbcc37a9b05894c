"""References into earlier steps' outputs: resolve, flatten for the picker, x-ref configs."""

from __future__ import annotations

import pytest

from automations.engine.refs import (
    config_refs,
    flatten,
    is_reference,
    lookup,
    output_hints,
    refs_in,
    resolve,
)
from automations.engine.steps import get_step

OUTPUTS = {
    "type": {"label": "invoice", "score": 0.91, "top": [{"label": "invoice", "score": 0.91}]},
    "fields": {
        "fields": {
            "total": {"value": "1,234.50", "confidence": 0.88, "evidence": None},
            "vendor": {"value": "Acme", "confidence": 0.7, "evidence": {"page": 1}},
        },
        "line_items": [],
        "preset": "invoice",
    },
    "duplicates": {"is_duplicate": False, "duplicates": []},
}


@pytest.mark.parametrize(
    ("reference", "value"),
    [
        ("type.label", "invoice"),
        ("type.score", 0.91),
        ("type.top.0.label", "invoice"),
        ("fields.fields.total.value", "1,234.50"),
        ("fields.fields.total.confidence", 0.88),
        ("fields.fields.vendor.evidence.page", 1),
        ("duplicates.is_duplicate", False),
        ("duplicates", {"is_duplicate": False, "duplicates": []}),
    ],
)
def test_resolve_follows_keys_and_list_indexes(reference, value):
    assert resolve(OUTPUTS, reference) == value
    assert lookup(OUTPUTS, reference) == (True, value)


@pytest.mark.parametrize(
    "reference",
    [
        "missing.label",  # a step that did not run (or was skipped)
        "type.nope",
        "type.top.1.label",  # past the end of the list
        "type.top.x",
        "type.label.more",  # into a string
        "fields.fields.total.value.0",
    ],
)
def test_resolve_gives_none_when_the_reference_finds_nothing(reference):
    assert resolve(OUTPUTS, reference) is None
    assert lookup(OUTPUTS, reference) == (False, None)


def test_lookup_tells_a_null_value_from_a_missing_one():
    assert lookup(OUTPUTS, "fields.fields.total.evidence") == (True, None)
    assert lookup(OUTPUTS, "fields.fields.total.currency") == (False, None)


def test_flatten_lists_every_leaf_path_in_order_with_its_value():
    assert flatten(OUTPUTS) == [
        ("type.label", "invoice"),
        ("type.score", 0.91),
        ("type.top.0.label", "invoice"),
        ("type.top.0.score", 0.91),
        ("fields.fields.total.value", "1,234.50"),
        ("fields.fields.total.confidence", 0.88),
        ("fields.fields.total.evidence", None),
        ("fields.fields.vendor.value", "Acme"),
        ("fields.fields.vendor.confidence", 0.7),
        ("fields.fields.vendor.evidence.page", 1),
        ("fields.line_items", []),
        ("fields.preset", "invoice"),
        ("duplicates.is_duplicate", False),
        ("duplicates.duplicates", []),
    ]
    # every path it offers resolves to the value it shows
    assert all(resolve(OUTPUTS, path) == value for path, value in flatten(OUTPUTS))


def test_flatten_stops_at_max_depth_and_keeps_the_rest_as_one_value():
    deep = {"a": {"b": {"c": {"d": 1}}}}

    assert flatten(deep, max_depth=2) == [("a.b", {"c": {"d": 1}})]
    assert flatten(deep) == [("a.b.c.d", 1)]


def test_flatten_offers_the_first_items_of_a_long_list_and_skips_unreferable_keys():
    outputs = {"s": {"items": list(range(50)), "a.b": 1, "two words": 2, "": 3, "ok": 4}}

    paths = [path for path, _ in flatten(outputs, max_items=3)]

    assert paths == ["s.items.0", "s.items.1", "s.items.2", "s.ok"]
    assert len(flatten(outputs)) == 21  # 20 list items by default, and s.ok


def test_flatten_of_nothing_is_empty():
    assert flatten({}) == []
    assert flatten({"skipped": {}}) == [("skipped", {})]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("type.label", True),
        ("type", True),
        ("fields.fields.total.value", True),
        ("Type.label", False),
        ("1type.label", False),
        ("type..label", False),
        ("type.label.", False),
        ("type.two words", False),
        ("", False),
        (None, False),
        (3, False),
    ],
)
def test_is_reference(value, ok):
    assert is_reference(value) is ok


def test_refs_in_reads_one_reference_a_map_or_a_list():
    assert refs_in("type.label") == ["type.label"]
    assert refs_in({"total": "fields.fields.total.value", "kind": "type.label"}) == [
        "fields.fields.total.value",
        "type.label",
    ]
    assert refs_in(["type.label", "type.label", "Not a ref", 3]) == ["type.label"]
    assert refs_in(None) == []
    assert refs_in(12) == []


def test_config_refs_follow_x_ref_marks_only():
    schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "payload": {"type": "object", "x-ref": "map"},
            "amount": {"type": "string", "x-ref": "value"},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "ref": {"x-ref": "value"}},
                },
            },
        },
    }
    config = {
        "url": "example.com",  # looks like a reference, but is not marked as one
        "payload": {"total": "fields.fields.total.value", "bad": "Not One"},
        "amount": "fields.fields.total.value",
        "rows": [{"name": "x", "ref": "type.label"}, {"name": "y"}],
    }

    assert config_refs(schema, config) == [
        ("payload.total", "fields.fields.total.value"),
        ("amount", "fields.fields.total.value"),
        ("rows.0.ref", "type.label"),
    ]
    assert config_refs(schema, {}) == []


def test_the_webhook_payload_is_marked_as_a_map_of_references():
    webhook = get_step("webhook")

    assert webhook.config_schema["properties"]["payload"]["x-ref"] == "map"
    assert config_refs(
        webhook.config_schema, {"url": "https://x.example", "payload": {"t": "a.b"}}
    ) == [("payload.t", "a.b")]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("classify", ["label", "score"]),
        ("extract_text", ["pages", "language.language"]),
        ("summarize", ["summary"]),
        ("redact", ["counts.email"]),
        ("similar_documents", ["is_duplicate"]),
        ("tag", ["tags", "doc_type"]),
        ("webhook", ["delivered"]),
        (
            "extract_fields",
            [
                "fields.invoice_number.value",
                "fields.total.confidence",
                "fields.address.value",  # a receipt field
            ],
        ),
    ],
)
def test_steps_with_well_known_outputs_declare_hints(step, expected):
    hints = get_step(step).output_hints

    assert set(expected) <= set(hints)
    assert all("<" not in hint and " " not in hint for hint in hints)


def test_extract_fields_hints_follow_the_configured_preset_and_own_fields():
    step = get_step("extract_fields")

    receipt = output_hints(step, {"preset": "receipt", "fields": []})
    own = output_hints(step, {"preset": None, "fields": [{"name": "po_number"}]})

    assert receipt == [
        "preset",
        *(
            f"fields.{n}.{k}"
            for n in ("vendor", "address", "date", "total", "tax", "currency")
            for k in ("value", "confidence")
        ),
    ]
    assert own == ["preset", "fields.po_number.value", "fields.po_number.confidence"]
    assert output_hints(step) == step.output_hints
    assert (
        output_hints(get_step("classify"), {"labels": ["a"]}) == get_step("classify").output_hints
    )


def test_hints_match_what_the_steps_really_output():
    """The extract_fields hints resolve in a real output's shape."""
    from automations.engine.fields import PageText, extract_fields, to_json

    result = to_json(
        extract_fields([PageText(1, "Invoice No 42\nTotal 10.00 EUR")], preset="invoice")
    )
    outputs = {"fields": {**result, "preset": "invoice"}}
    invoice_hints = output_hints(get_step("extract_fields"), {"preset": "invoice"})

    assert all(lookup(outputs, f"fields.{hint}")[0] for hint in invoice_hints)
