"""The workflow builder: its page and the JSON endpoints the page calls.

Every endpoint: a member edits, a viewer only looks, another organization gets a 404."""

from __future__ import annotations

import json
from html import escape

import pytest
from django.urls import reverse

from automations.models import Document, Run, StepRun, Workflow
from automations.pipelines import WORKFLOW_TEMPLATES
from automations.runs.execute import execute_run
from automations.web.builder_data import draft_problems, preview
from automations.workflows import create_workflow, publish, save_draft
from tests import files
from tests.automations.helpers import boot_data, make_document, upload
from tests.factories import READ, SORT

SEND = {
    "id": "send",
    "step": "webhook",
    "config": {"url": "https://hooks.example.com/pyq", "payload": {"label": "type.label"}},
}


@pytest.fixture
def document(owner) -> Document:
    return make_document(owner.org, "invoice.pdf", files.text_pdf(["Invoice 4721"]))


def url(name: str, workflow: Workflow, *args) -> str:
    return reverse(f"automations:{name}", args=[workflow.pk, *args])


def post_json(client, address: str, body) -> object:
    return client.post(address, json.dumps(body), content_type="application/json")


def test_urls():
    assert reverse("automations:builder_new") == "/workflows/new/"
    assert reverse("automations:builder", args=[7]) == "/workflows/7/builder/"


# --- choosing a template ----------------------------------------------------------------


def test_the_new_workflow_page_offers_every_template_and_blank(member):
    response = member.client.get(reverse("automations:builder_new"))
    assert response.status_code == 200
    page = response.content.decode()
    for key, template in WORKFLOW_TEMPLATES.items():
        assert f'data-testid="template-{key}"' in page
        assert escape(template["name"]) in page
        assert escape(template["description"]) in page
    assert 'data-testid="template-blank"' in page


def test_a_template_becomes_a_workflow_with_its_steps(member):
    response = member.client.post(
        reverse("automations:builder_new"), {"template": "invoice-intake"}
    )
    workflow = Workflow.objects.get(organization=member.org)
    assert response.status_code == 302
    assert response["Location"] == reverse("automations:builder", args=[workflow.pk])
    assert workflow.name == "Invoice intake to CSV and webhook"
    assert workflow.draft == WORKFLOW_TEMPLATES["invoice-intake"]["steps"]
    assert (workflow.created_by, workflow.current_version) == (member.user, None)


def test_blank_starts_an_empty_workflow_with_its_name(member):
    member.client.post(reverse("automations:builder_new"), {"template": "blank", "name": " Mail "})
    workflow = Workflow.objects.get(organization=member.org)
    assert (workflow.name, workflow.draft) == ("Mail", [])


def test_an_unknown_template_is_refused(member):
    response = member.client.post(reverse("automations:builder_new"), {"template": "nope"})
    assert response.status_code == 400
    assert "Choose a template" in response.content.decode()
    assert not Workflow.objects.exists()


def test_a_viewer_cannot_create_workflows(viewer):
    assert viewer.client.get(reverse("automations:builder_new")).status_code == 403
    response = viewer.client.post(reverse("automations:builder_new"), {"template": "blank"})
    assert response.status_code == 403
    assert not Workflow.objects.exists()


# --- the page -----------------------------------------------------------------------------


def test_the_builder_page_carries_the_draft_library_and_problems(member, workflow):
    save_draft(workflow, [READ, {"id": "type", "step": "classify", "config": {"labels": []}}])
    response = member.client.get(url("builder", workflow))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="builder-data"' in page
    assert 'data-testid="library"' in page
    boot = boot_data(response)
    assert boot["canEdit"] is True
    assert boot["draft"] == workflow.draft
    assert [g["kind"] for g in boot["library"]] == [
        "read",
        "understand",
        "extract",
        "transform",
        "deliver",
    ]
    assert len(boot["problems"]) >= 1
    assert "label" in boot["problems"][0]["message"]


def test_a_viewer_sees_the_builder_read_only(viewer, workflow):
    response = viewer.client.get(url("builder", workflow))
    assert response.status_code == 200
    assert boot_data(response)["canEdit"] is False
    page = response.content.decode()
    assert 'data-testid="library"' not in page  # nothing to add steps with
    assert "Read only" in page


def test_another_organizations_workflow_is_not_found_on_every_endpoint(
    outsider, workflow, document
):
    run = Run.objects.create(
        organization=workflow.organization,
        document=document,
        workflow=workflow,
        is_test=True,
        pipeline=[READ],
    )
    before = (workflow.name, workflow.draft)
    client = outsider.client
    assert client.get(url("builder", workflow)).status_code == 404
    assert client.get(url("builder_library", workflow)).status_code == 404
    assert client.get(url("builder_references", workflow)).status_code == 404
    assert client.get(url("builder_test_run", workflow, run.pk)).status_code == 404
    assert post_json(client, url("builder_draft", workflow), {"steps": []}).status_code == 404
    assert client.post(url("builder_test", workflow), {"document": document.uid}).status_code == 404
    assert client.post(url("builder_publish", workflow), {"note": "x"}).status_code == 404
    workflow.refresh_from_db()
    assert (workflow.name, workflow.draft) == before
    assert workflow.versions.count() == 0
    assert Run.objects.filter(is_test=True).count() == 1


def test_a_viewer_cannot_change_test_or_publish(viewer, workflow, document):
    client = viewer.client
    response = post_json(client, url("builder_draft", workflow), {"steps": [READ]})
    assert response.status_code == 403
    assert client.post(url("builder_test", workflow), {"document": document.uid}).status_code == 403
    assert client.post(url("builder_publish", workflow)).status_code == 403
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]
    assert workflow.versions.count() == 0
    assert not Run.objects.filter(is_test=True).exists()


def test_a_viewer_can_read_the_library_references_and_test_runs(viewer, workflow):
    assert viewer.client.get(url("builder_library", workflow)).status_code == 200
    assert viewer.client.get(url("builder_references", workflow)).status_code == 200


# --- saving the draft ---------------------------------------------------------------------


def test_an_incomplete_draft_is_saved_and_its_problems_come_back(member, workflow):
    steps = [READ, SORT, {"id": "send", "step": "webhook", "config": {}}]
    response = post_json(member.client, url("builder_draft", workflow), {"steps": steps})
    assert response.status_code == 200
    body = response.json()
    workflow.refresh_from_db()
    assert workflow.draft == steps
    assert workflow.draft_updated_by == member.user
    assert body["problems"]
    problem = body["problems"][0]
    assert set(problem) >= {"step", "field", "message"}
    assert "url" in problem["message"]
    assert body["published"] is None


def test_a_complete_draft_has_no_problems(member, workflow):
    body = {"steps": [READ, SORT, SEND]}
    assert post_json(member.client, url("builder_draft", workflow), body).json()["problems"] == []


def test_a_reference_to_a_later_step_is_a_warning_on_its_field(member, workflow):
    body = {"steps": [READ, SEND, SORT]}
    problems = post_json(member.client, url("builder_draft", workflow), body).json()["problems"]
    assert [(p["step"], p["field"], p.get("level")) for p in problems] == [
        (1, "config.payload.label", "warning")
    ]


def test_saving_can_rename_the_workflow(member, workflow):
    body = {"steps": [READ], "name": "  Supplier invoices "}
    assert post_json(member.client, url("builder_draft", workflow), body).status_code == 200
    workflow.refresh_from_db()
    assert workflow.name == "Supplier invoices"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([READ], "Send the draft as JSON"),
        ({"steps": "text"}, "list of objects"),
        ({"steps": [READ], "name": "  "}, "Give the workflow a name"),
    ],
)
def test_a_malformed_draft_is_refused_and_nothing_changes(member, workflow, body, message):
    response = post_json(member.client, url("builder_draft", workflow), body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    workflow.refresh_from_db()
    assert (workflow.name, workflow.draft) == ("Invoice intake", [READ, SORT])


def test_a_draft_that_is_not_json_is_refused(member, workflow):
    address = url("builder_draft", workflow)
    response = member.client.post(address, "{nope", content_type="application/json")
    assert response.status_code == 400
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]


def test_a_saved_draft_says_when_it_differs_from_the_published_version(member, workflow):
    publish(workflow)
    same = post_json(member.client, url("builder_draft", workflow), {"steps": [READ, SORT]})
    assert same.json()["published"]["number"] == 1
    assert same.json()["published"]["changed"] is False
    changed = post_json(member.client, url("builder_draft", workflow), {"steps": [READ]})
    assert changed.json()["published"]["changed"] is True


def test_problems_name_the_step_they_belong_to():
    problems = draft_problems([READ, {"id": "Bad Id", "step": "classify"}])
    assert problems
    assert problems[0]["step"] == 1


# --- the library and references -----------------------------------------------------------


def test_the_library_groups_steps_by_kind_with_labels_and_schemas(member, workflow):
    kinds = member.client.get(url("builder_library", workflow)).json()["kinds"]
    by_kind = {g["kind"]: g for g in kinds}
    assert by_kind["read"]["label"] == "Read"
    read = {s["name"]: s for s in by_kind["read"]["steps"]}
    assert read["extract_text"]["label"] == "Read text"
    assert read["extract_text"]["description"].startswith("Reads every page")
    understand = {s["name"] for s in by_kind["understand"]["steps"]}
    assert {"classify", "summarize", "similar_documents"} <= understand
    deliver = {s["name"]: s for s in by_kind["deliver"]["steps"]}
    assert deliver["webhook"]["schema"]["required"] == ["url"]
    assert deliver["webhook"]["preferred_id"] == "send"


def finished_test_run(workflow, document, outputs: dict[str, dict]) -> Run:
    run = Run.objects.create(
        organization=workflow.organization,
        document=document,
        workflow=workflow,
        is_test=True,
        pipeline=workflow.draft,
        status=Run.Status.SUCCEEDED,
        trigger=Run.Trigger.TEST,
    )
    for position, (step_id, output) in enumerate(outputs.items()):
        StepRun.objects.create(
            run=run,
            position=position,
            step_id=step_id,
            step=next(s["step"] for s in workflow.draft if s["id"] == step_id),
            status=StepRun.Status.SUCCEEDED,
            output=output,
            seconds=0.25,
            input={"config": {"labels": ["invoice"]}, "references": {}},
            log=[{"at": "2026-03-14T10:00:01+00:00", "level": "info", "message": "done"}],
        )
    return run


def test_references_offer_earlier_outputs_of_the_last_test_with_their_values(
    member, workflow, document
):
    save_draft(workflow, [READ, SORT, SEND])
    finished_test_run(
        workflow,
        document,
        {
            "text": {"pages": 1, "language": "en"},
            "type": {"label": "invoice", "score": 0.61, "top": [{"label": "invoice"}]},
        },
    )
    address = url("builder_references", workflow)
    options = member.client.get(address, {"position": 2}).json()["options"]
    tested = {o["ref"]: o["preview"] for o in options if o["source"] == "test"}
    assert tested["text.pages"] == "1"
    assert tested["type.label"] == "invoice"
    assert tested["type.score"] == "0.61"
    assert tested["type.top.0.label"] == "invoice"
    assert {o["step"] for o in options} == {"text", "type"}
    # A step sees only what comes before it.
    second = member.client.get(address, {"position": 1}).json()["options"]
    assert {o["step"] for o in second} == {"text"}
    assert member.client.get(address, {"position": 0}).json()["options"] == []
    # Without a position: every step's outputs, for the page to filter as steps move.
    outputs = member.client.get(address).json()["outputs"]
    assert {o["ref"] for o in outputs["type"]} >= {"type.label", "type.score"}


def test_references_without_a_test_run_come_from_output_hints(member, workflow):
    options = member.client.get(url("builder_references", workflow), {"position": 2}).json()
    assert options["test_run"] is None
    assert all(o["source"] == "hint" and o["preview"] == "" for o in options["options"])


def test_a_bad_position_is_refused(member, workflow):
    response = member.client.get(url("builder_references", workflow), {"position": "x"})
    assert response.status_code == 400


def test_previews_are_short_single_lines():
    assert preview("a\n  b") == "a b"
    assert preview(None) == "null"
    assert preview({"x": 1}) == '{"x": 1}'
    assert len(preview("x" * 500)) == 80


# --- testing the draft --------------------------------------------------------------------


def test_a_test_runs_the_draft_on_a_chosen_document(member, workflow, document, sent):
    response = member.client.post(url("builder_test", workflow), {"document": document.uid})
    assert response.status_code == 201
    run = Run.objects.get(pk=response.json()["run"])
    assert (run.is_test, run.workflow, run.trigger) == (True, workflow, Run.Trigger.TEST)
    assert run.pipeline == [READ, SORT]
    assert run.document == document
    assert run.triggered_by == member.user
    assert response.json()["poll"] == url("builder_test_run", workflow, run.pk)


def test_a_test_can_upload_its_sample(member, workflow, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = member.client.post(
            url("builder_test", workflow),
            {"file": upload("sample.pdf", files.text_pdf(["Invoice 99"]))},
        )
    assert response.status_code == 201
    document = Document.objects.get(organization=member.org)
    assert document.original_name == "sample.pdf"
    # Read by the test alone, not by the default reading as well.
    assert [(r.is_test, r.pipeline) for r in document.runs.all()] == [(True, [READ, SORT])]
    assert sent == [response.json()["run"]]


def test_a_rejected_sample_upload_stores_nothing(member, workflow, sent):
    response = member.client.post(
        url("builder_test", workflow), {"file": upload("tool.exe", b"MZ" + bytes(300))}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "file"
    assert not Document.objects.exists()
    assert not Run.objects.exists()


def test_an_invalid_draft_is_not_tested(member, workflow, document, sent):
    save_draft(workflow, [READ, {"id": "send", "step": "webhook", "config": {}}])
    response = member.client.post(url("builder_test", workflow), {"document": document.uid})
    assert response.status_code == 400
    assert response.json()["problems"]
    assert not Run.objects.filter(is_test=True).exists()


def test_a_test_needs_a_document_of_the_organization(member, workflow, outsider, sent):
    theirs = make_document(outsider.org, "theirs.pdf", files.text_pdf(["Secret"]))
    for value in (theirs.uid, "", "not-a-uid"):
        response = member.client.post(url("builder_test", workflow), {"document": value})
        assert response.status_code == 400
        assert response.json()["field"] == "document"
    assert not Run.objects.filter(is_test=True).exists()


def test_a_test_run_shows_each_step_with_status_input_output_duration_and_log(
    member, workflow, document
):
    save_draft(workflow, [READ, SORT, SEND])
    run = finished_test_run(
        workflow,
        document,
        {"text": {"pages": 1}, "type": {"label": "invoice", "score": 0.61}},
    )
    body = member.client.get(url("builder_test_run", workflow, run.pk)).json()
    assert (body["status"], body["active"]) == ("succeeded", False)
    assert list(body["steps"]) == ["text", "type", "send"]
    assert body["steps"]["type"]["status"] == "succeeded"
    html = body["steps"]["type"]["html"]
    assert "invoice" in html
    assert "0.25 s" in html
    assert "&quot;labels&quot;" in html  # the input, as JSON
    assert "done" in html  # the log
    assert body["steps"]["send"]["status"] == "not_run"
    assert "invoice.pdf" in body["summary"]


def test_extracted_fields_show_as_a_table(member, workflow, document):
    save_draft(workflow, [READ, {"id": "fields", "step": "extract_fields"}])
    fields = {"total": {"value": "7.75", "confidence": 0.93}, "vendor": {"value": None}}
    run = finished_test_run(workflow, document, {"fields": {"fields": fields}})
    html = member.client.get(url("builder_test_run", workflow, run.pk)).json()["steps"]["fields"]
    assert 'aria-label="Fields"' in html["html"]
    assert "7.75" in html["html"]
    assert "0.93" in html["html"]
    assert "not found" in html["html"]


def test_only_the_workflows_test_runs_can_be_polled(member, workflow, document):
    other = create_workflow(member.org, "Other", steps=[READ])
    run = finished_test_run(other, document, {})
    assert member.client.get(url("builder_test_run", workflow, run.pk)).status_code == 404
    real = Run.objects.create(organization=member.org, document=document, workflow=workflow)
    assert member.client.get(url("builder_test_run", workflow, real.pk)).status_code == 404


def test_a_test_run_executes_on_a_worker_and_its_outputs_become_references(member, document, sent):
    workflow = create_workflow(member.org, "Read", steps=[READ])
    started = member.client.post(url("builder_test", workflow), {"document": document.uid})
    run_id = started.json()["run"]
    while_queued = member.client.get(url("builder_test_run", workflow, run_id)).json()
    assert (while_queued["active"], while_queued["steps"]["text"]["status"]) == (True, "waiting")

    execute_run(run_id)

    body = member.client.get(url("builder_test_run", workflow, run_id)).json()
    assert body["status"] == "succeeded"
    assert body["steps"]["text"]["status"] == "succeeded"
    assert "pages" in body["steps"]["text"]["html"]
    outputs = member.client.get(url("builder_references", workflow)).json()["outputs"]
    assert {"ref": "text.pages", "preview": "1"} in outputs["text"]


# --- publishing ---------------------------------------------------------------------------


def test_publishing_freezes_the_draft_with_a_note(member, workflow):
    response = post_json(member.client, url("builder_publish", workflow), {"note": "first"})
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.json()["published"] == {
        "number": 1,
        "published_at": response.json()["published"]["published_at"],
        "changed": False,
    }
    version = workflow.versions.get()
    assert (version.note, version.published_by, version.spec) == (
        "first",
        member.user,
        [READ, SORT],
    )


def test_publishing_also_takes_a_form_post(member, workflow):
    response = member.client.post(url("builder_publish", workflow), {"note": "from a form"})
    assert response.status_code == 200
    assert workflow.versions.get().note == "from a form"


def test_an_invalid_draft_shows_its_problems_instead_of_publishing(member, workflow):
    save_draft(workflow, [READ, {"id": "send", "step": "webhook", "config": {}}])
    response = post_json(member.client, url("builder_publish", workflow), {"note": ""})
    assert response.status_code == 400
    body = response.json()
    assert "url" in body["error"]
    assert body["problems"]
    assert workflow.versions.count() == 0


def test_publishing_an_unchanged_draft_says_so(member, workflow):
    publish(workflow)
    response = post_json(member.client, url("builder_publish", workflow), {})
    assert response.status_code == 400
    assert "Nothing changed since version 1" in response.json()["error"]
    assert workflow.versions.count() == 1
