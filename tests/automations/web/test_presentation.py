"""What the run page and the builder's test results show of a step as JSON: one rule, with
secrets masked and the size bounded, whichever page shows it."""

from __future__ import annotations

import json

from automations.engine.masking import MASK
from automations.models import Run, StepRun
from automations.web.presentation import MAX_SHOWN_JSON, shown_json, step_result, step_views
from tests.automations.helpers import make_document

SECRET = "whsec-0123456789abcdef"
CONFIG = {
    "url": "https://hooks.example.com/x",
    "secret": SECRET,
    "headers": {"Authorization": f"Bearer {SECRET}"},
    "dsn": f"postgres://app:{SECRET}@db.internal/pyq",
}


def test_shown_json_masks_secrets_at_any_depth_and_in_urls():
    text = shown_json({"steps": [{"config": CONFIG}]})
    assert SECRET not in text
    shown = json.loads(text)["steps"][0]["config"]
    assert shown["secret"] == MASK
    assert shown["headers"]["Authorization"] == MASK
    assert shown["dsn"] == f"postgres://app:{MASK}@db.internal/pyq"
    assert shown["url"] == "https://hooks.example.com/x"
    assert CONFIG["secret"] == SECRET  # a copy is masked, not the value


def test_shown_json_is_cut_with_a_note_of_what_was_left_out():
    value = {"text": "x" * (2 * MAX_SHOWN_JSON)}
    full = json.dumps(value, indent=2, ensure_ascii=False)
    text = shown_json(value)
    left_out = len(full) - MAX_SHOWN_JSON
    assert text == full[:MAX_SHOWN_JSON] + f"\n… ({left_out} more characters)"
    assert shown_json({"total": "9.00"}) == '{\n  "total": "9.00"\n}'


def test_the_run_page_and_a_builder_test_show_a_step_alike(member):
    document = make_document(member.org, "note.txt", b"plain text")
    run = document.runs.get()
    run.pipeline = [{"id": "send", "step": "webhook", "config": CONFIG}]
    run.status = Run.Status.SUCCEEDED
    run.save()
    output = {"delivered": True, "text": "y" * (2 * MAX_SHOWN_JSON), "token": SECRET}
    step_run = StepRun.objects.create(
        run=run,
        position=1,
        step_id="send",
        step="webhook",
        status=StepRun.Status.SUCCEEDED,
        input={"config": CONFIG},
        output=output,
    )

    step_run.refresh_from_db()  # as both pages read it (PostgreSQL's jsonb orders the keys)
    (row,) = step_views(run)
    result = step_result(step_run)

    assert row["input"] == result["input_json"] == shown_json({"config": CONFIG})
    assert step_run.output == output
    assert row["output"] == result["output_json"] == shown_json(step_run.output)
    assert row["config"] == shown_json(CONFIG)
    for text in (row["input"], row["config"], row["output"], result["output_json"]):
        assert SECRET not in text
        assert len(text) <= MAX_SHOWN_JSON + len("\n… (100000 more characters)")
