"""Evidence boxes of extracted fields as percentages of their page."""

from automations.engine.fields.evidence import highlights


def test_evidence_boxes_become_percentages_of_their_page_only():
    fields = {
        "total": {"value": "9.00", "evidence": {"page": 1, "box": [100, 200, 300, 250]}},
        "date": {"value": "2026-01-01", "evidence": {"page": 2, "box": [0, 0, 10, 10]}},
        "vendor": {"value": None, "evidence": None},
    }
    assert highlights(fields, 1, 1000, 2000) == [
        {"name": "total", "value": "9.00", "left": 10.0, "top": 10.0, "width": 20.0, "height": 2.5}
    ]
    assert highlights(fields, 1, None, None) == []
