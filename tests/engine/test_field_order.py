"""The order of extracted fields: the order they were defined in, whatever the storage did."""

from automations.engine.fields.order import ordered_fields


def test_fields_keep_their_defined_order_after_a_jsonb_round_trip():
    # PostgreSQL's jsonb hands keys back shortest first: the saved order puts them right.
    output = {
        "fields": {"tax": {}, "date": {}, "total": {}, "vendor": {}, "custom": {}},
        "order": ["vendor", "date", "total", "tax"],
    }
    assert [name for name, _ in ordered_fields(output)] == [
        "vendor",
        "date",
        "total",
        "tax",
        "custom",
    ]
    assert ordered_fields(None) == []


def test_names_in_the_order_without_a_field_are_left_out():
    output = {"fields": {"total": {"value": "9.00"}}, "order": ["vendor", "total"]}
    assert ordered_fields(output) == [("total", {"value": "9.00"})]
