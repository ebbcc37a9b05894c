"""The tag step labels documents and sets their type, in a run of the mail template too."""

from automations.models import Run
from automations.pipelines import WORKFLOW_TEMPLATES
from tests.automations.helpers import run_pipeline_on


def test_the_mail_template_tags_a_letter_with_its_type(owner):
    text = b"Dear Ann,\nThank you for your letter of Monday.\nKind regards, Bob"
    run = run_pipeline_on(owner.org, "letter.txt", text, WORKFLOW_TEMPLATES["sort-mail"]["steps"])
    document = run.document
    assert run.status == Run.Status.SUCCEEDED
    assert document.doc_type == "letter"
    assert document.tags == ["letter"]
    assert run.output_of("tag") == {"tags": ["letter"], "doc_type": "letter"}


def test_fixed_tags_are_added_once_and_keep_earlier_ones(owner):
    steps = [
        {"id": "text", "step": "extract_text"},
        {
            "id": "t",
            "step": "tag",
            "config": {"tags": ["expenses", "expenses", " 2026 "], "type": "receipt"},
        },
    ]
    run = run_pipeline_on(owner.org, "r.txt", b"TOTAL 9.00 CASH 10.00", steps)
    document = run.document
    assert run.status == Run.Status.SUCCEEDED
    assert (document.doc_type, document.tags) == ("receipt", ["expenses", "2026"])


def test_type_from_a_step_that_does_not_exist_fails_with_its_name(owner):
    steps = [
        {"id": "text", "step": "extract_text"},
        {"id": "t", "step": "tag", "config": {"type_from": "kind"}},
    ]
    run = run_pipeline_on(owner.org, "r.txt", b"TOTAL 9.00 CASH 10.00", steps)
    document = run.document
    assert run.status == Run.Status.FAILED
    assert run.error == "There is no Classify result called 'kind' before this step."
    assert (document.doc_type, document.tags) == ("", [])
