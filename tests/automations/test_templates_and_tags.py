"""Workflow templates are valid pipelines; the tag step labels documents and sets their type."""

import pytest

from automations.engine.pipeline import parse_pipeline
from automations.models import Run
from automations.pipelines import WORKFLOW_TEMPLATES
from automations.runs.execute import execute_run
from tests.automations.helpers import make_document


@pytest.mark.parametrize("slug", sorted(WORKFLOW_TEMPLATES))
def test_every_template_is_a_valid_pipeline(slug):
    steps = parse_pipeline(WORKFLOW_TEMPLATES[slug]["steps"])
    assert steps[0].step == "extract_text"
    assert WORKFLOW_TEMPLATES[slug]["name"]


def run_pipeline_on(org, name, data, steps):
    document = make_document(org, name, data)
    run = document.runs.get()
    Run.objects.filter(pk=run.pk).update(pipeline=steps)
    execute_run(run.pk)
    run.refresh_from_db()
    document.refresh_from_db()
    return run, document


def test_the_mail_template_tags_a_letter_with_its_type(owner):
    text = b"Dear Ann,\nThank you for your letter of Monday.\nKind regards, Bob"
    run, document = run_pipeline_on(
        owner.org, "letter.txt", text, WORKFLOW_TEMPLATES["sort-mail"]["steps"]
    )
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
    run, document = run_pipeline_on(owner.org, "r.txt", b"TOTAL 9.00 CASH 10.00", steps)
    assert run.status == Run.Status.SUCCEEDED
    assert (document.doc_type, document.tags) == ("receipt", ["expenses", "2026"])


def test_type_from_a_step_that_does_not_exist_fails_with_its_name(owner):
    steps = [
        {"id": "text", "step": "extract_text"},
        {"id": "t", "step": "tag", "config": {"type_from": "kind"}},
    ]
    run, document = run_pipeline_on(owner.org, "r.txt", b"TOTAL 9.00 CASH 10.00", steps)
    assert run.status == Run.Status.FAILED
    assert run.error == "There is no Classify result called 'kind' before this step."
    assert (document.doc_type, document.tags) == ("", [])
