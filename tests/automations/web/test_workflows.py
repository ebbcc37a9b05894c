"""Workflow pages: the list, a workflow's overview with its upload box, runs, export and
re-run, its history with restore, rename and delete; who may do what."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import Role
from automations.models import Document, Run, Workflow
from automations.runs.execute import execute_run
from automations.workflows import (
    create_workflow,
    publish,
    save_draft,
    start_test_run,
    start_workflow_run,
)
from tests.automations.helpers import make_document, message_texts, stored_files, upload, url
from tests.conftest import _persona
from tests.factories import FIELDS, READ, TAG

INVOICE_A = (
    b"INVOICE\nAcme Supplies Ltd\nInvoice number: INV-1001\nInvoice date: 2025-03-14\n"
    b"Total due: 120.50 EUR\n"
)
INVOICE_B = (
    b"INVOICE\nBlue Widgets GmbH\nInvoice number: B-77\nInvoice date: 2025-04-02\n"
    b"Total due: 75.00 EUR\n"
)


def run_through(workflow, name: str, data: bytes, *, user=None) -> Run:
    """A document of the workflow's organization, run (here, not on a worker) through its
    current version."""
    document = make_document(workflow.organization, name, data)
    document.runs.all().delete()  # the plain reading an upload queues; not this workflow's
    run = start_workflow_run(workflow, document, user=user)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def execute_queued(org) -> list[Run]:
    runs = list(Run.objects.filter(organization=org, status=Run.Status.QUEUED))
    for run in runs:
        execute_run(run.pk)
    return [Run.objects.get(pk=run.pk) for run in runs]


# --- the list -------------------------------------------------------------------------


def test_the_list_shows_versions_unpublished_changes_and_runs_of_the_last_week(
    owner, published_workflow
):
    run_through(published_workflow, "a.txt", INVOICE_A)
    old = run_through(published_workflow, "b.txt", INVOICE_B)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    sample = make_document(owner.org, "sample.txt", INVOICE_A)
    start_test_run(published_workflow, sample)  # not counted
    changed = create_workflow(owner.org, "Sort mail", steps=[READ])
    publish(changed, user=owner.user)
    save_draft(changed, [READ, TAG])
    create_workflow(owner.org, "Never published", steps=[READ])

    response = owner.client.get(url("workflows"))

    assert response.status_code == 200
    rows = {w.name: w for w in response.context["workflows"]}
    assert list(rows) == ["Invoice intake", "Never published", "Sort mail"]
    assert rows["Invoice intake"].recent_runs == 1
    assert rows["Invoice intake"].draft_changed is False
    assert rows["Sort mail"].draft_changed is True
    assert rows["Never published"].current_version is None
    body = response.content.decode()
    assert url("workflow", published_workflow.pk) in body
    assert "Unpublished changes" in body
    assert "Not published" in body
    assert f"by {owner.user.email}" in body


def test_the_list_links_the_new_workflow_button_to_the_builder(member):
    try:
        new_url = reverse("automations:builder_new")
    except NoReverseMatch:
        pytest.skip("the builder's URLs are not there yet")
    body = member.client.get(url("workflows")).content.decode()
    assert f'href="{new_url}"' in body
    assert "New workflow" in body


def test_the_nav_links_to_workflows(member):
    body = member.client.get(url("documents")).content.decode()
    assert f'href="{url("workflows")}"' in body


# --- upload on the workflow page ------------------------------------------------------


def test_files_uploaded_on_the_workflow_page_run_through_its_current_version(
    member, published_workflow
):
    save_draft(published_workflow, [READ, FIELDS, TAG])
    version = publish(published_workflow)

    page = member.client.get(url("workflow", published_workflow.pk)).content.decode()
    assert 'data-testid="workflow-upload"' in page
    response = member.client.post(
        url("workflow", published_workflow.pk),
        {"files": [upload("a.txt", INVOICE_A), upload("b.txt", INVOICE_B)]},
    )

    assert response.status_code == 302
    assert response.url == url("workflow", published_workflow.pk)
    assert message_texts(response) == ["Uploaded a.txt, b.txt. Running them through version 2."]
    runs = execute_queued(member.org)
    assert {(r.document.original_name, r.workflow_version, r.workflow) for r in runs} == {
        ("a.txt", version, published_workflow),
        ("b.txt", version, published_workflow),
    }
    assert all(r.status == Run.Status.SUCCEEDED for r in runs)
    assert {r.triggered_by for r in runs} == {member.user}
    assert [s.step_id for s in runs[0].steps.all()] == ["text", "fields", "tag"]
    page = member.client.get(url("workflow", published_workflow.pk))
    assert {r.pk for r in page.context["page_obj"]} == {r.pk for r in runs}


def test_a_rejected_file_is_shown_next_to_the_field_and_the_others_still_run(
    member, published_workflow
):
    response = member.client.post(
        url("workflow", published_workflow.pk),
        {"files": [upload("a.txt", INVOICE_A), upload("empty.txt", b"")]},
    )
    assert response.status_code == 400
    assert "empty.txt: The file is empty." in response.content.decode()
    assert [d.original_name for d in Document.objects.for_org(member.org)] == ["a.txt"]


def test_an_unpublished_workflow_refuses_uploads_and_stores_nothing(member):
    draft = create_workflow(member.org, "Draft only", steps=[READ])
    page = member.client.get(url("workflow", draft.pk)).content.decode()
    assert 'data-testid="workflow-upload"' not in page
    assert "Not published yet" in page

    response = member.client.post(url("workflow", draft.pk), {"files": [upload("a.txt", b"x")]})

    assert response.status_code == 400
    assert "Publish Draft only in the builder before it can run." in response.content.decode()
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_a_viewer_sees_the_workflow_but_cannot_upload(viewer, published_workflow):
    page = viewer.client.get(url("workflow", published_workflow.pk))
    assert page.status_code == 200
    assert 'data-testid="workflow-upload"' not in page.content.decode()
    assert "Re-run" not in page.content.decode()

    response = viewer.client.post(
        url("workflow", published_workflow.pk), {"files": [upload("a.txt", b"x")]}
    )

    assert response.status_code == 403
    assert Document.objects.count() == 0
    assert stored_files() == []


def test_the_workflow_page_lists_its_own_runs_only_and_polls_active_ones(owner, published_workflow):
    done = run_through(published_workflow, "a.txt", INVOICE_A)
    other = create_workflow(owner.org, "Other", steps=[READ])
    publish(other)
    run_through(other, "c.txt", INVOICE_A)
    start_test_run(published_workflow, make_document(owner.org, "sample.txt", INVOICE_A))
    queued = start_workflow_run(published_workflow, make_document(owner.org, "b.txt", INVOICE_B))

    response = owner.client.get(url("workflow", published_workflow.pk))

    assert [r.pk for r in response.context["page_obj"]] == [queued.pk, done.pk]
    body = response.content.decode()
    poll = f'hx-get="{url("run_row", queued.pk)}?in=workflow" hx-trigger="every 2s"'
    assert poll in body
    assert f'hx-get="{url("run_row", done.pk)}' not in body
    assert url("run", done.pk) in body
    assert url("workflow_history", published_workflow.pk) in body
    with contextlib.suppress(NoReverseMatch):  # the builder helper adds that page
        assert reverse("automations:builder", args=[published_workflow.pk]) in body


def test_a_polled_row_stops_polling_once_the_run_is_done(member, published_workflow):
    run = start_workflow_run(published_workflow, make_document(member.org, "a.txt", INVOICE_A))
    queued = member.client.get(url("run_row", run.pk) + "?in=workflow").content.decode()
    assert 'hx-trigger="every 2s"' in queued
    assert "Waiting for a worker" in queued
    assert 'name="document"' in queued  # the re-run checkbox of the workflow page
    execute_run(run.pk)
    done = member.client.get(url("run_row", run.pk) + "?in=workflow").content.decode()
    assert "hx-trigger" not in done
    assert "Succeeded" in done
    assert "2 steps in" in done


# --- history and restore --------------------------------------------------------------


def test_history_lists_versions_with_who_when_note_and_changes(owner, member, published_workflow):
    save_draft(published_workflow, [READ, {**FIELDS, "config": {"preset": "receipt"}}, TAG])
    publish(published_workflow, user=member.user, note="Receipts too, and a tag")
    save_draft(published_workflow, [READ, TAG])

    response = owner.client.get(url("workflow_history", published_workflow.pk))

    assert response.status_code == 200
    versions = response.context["versions"]
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].published_by == member.user
    assert versions[0].changes == ["Added tag (tag)", "Changed fields: preset"]
    assert versions[1].changes == ["Added extract_text (text)", "Added extract_fields (fields)"]
    assert response.context["draft_changes"] == ["Removed extract_fields (fields)"]
    body = response.content.decode()
    assert "Receipts too, and a tag" in body
    assert member.user.email in body
    assert "First cut" in body
    assert "Changes since version 1" in body
    assert body.count("Restore as draft") == 2
    assert url("workflow_restore", published_workflow.pk, 1) in body


def test_restoring_a_version_makes_it_the_draft_and_keeps_the_versions(member, published_workflow):
    save_draft(published_workflow, [READ, TAG])
    publish(published_workflow)

    response = member.client.post(url("workflow_restore", published_workflow.pk, 1))

    assert response.status_code == 302
    published_workflow.refresh_from_db()
    assert published_workflow.draft == [READ, FIELDS]
    assert published_workflow.current_version.number == 2  # restoring does not publish
    assert published_workflow.draft_updated_by == member.user
    assert message_texts(response) == [
        "Version 1 is the draft again. Publish it in the builder to run it."
    ]
    history = member.client.get(url("workflow_history", published_workflow.pk))
    assert history.context["draft_changes"] == [
        "Added extract_fields (fields)",
        "Removed tag (tag)",
    ]


def test_a_viewer_cannot_restore_and_the_draft_stays(viewer, published_workflow):
    save_draft(published_workflow, [READ, TAG])
    page = viewer.client.get(url("workflow_history", published_workflow.pk)).content.decode()
    assert "Restore as draft" not in page
    response = viewer.client.post(url("workflow_restore", published_workflow.pk, 1))
    assert response.status_code == 403
    published_workflow.refresh_from_db()
    assert published_workflow.draft == [READ, TAG]


def test_restoring_a_version_that_does_not_exist_is_a_404(member, published_workflow):
    assert member.client.post(url("workflow_restore", published_workflow.pk, 9)).status_code == 404


def test_the_history_hides_a_webhook_secret(owner):
    hook = {
        "id": "send",
        "step": "webhook",
        "config": {"url": "https://example.com/hook", "secret": "s3cret-value"},
    }
    flow = create_workflow(owner.org, "Hook", steps=[READ, hook])
    publish(flow)
    body = owner.client.get(url("workflow_history", flow.pk)).content.decode()
    assert "s3cret-value" not in body
    assert "https://example.com/hook" in body


# --- export ---------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_csv_export_has_each_finished_run_with_its_fields(viewer, owner, published_workflow):
    a = run_through(published_workflow, "a.txt", INVOICE_A)
    b = run_through(published_workflow, "b.txt", INVOICE_B)
    start_test_run(published_workflow, make_document(owner.org, "sample.txt", INVOICE_A))
    execute_run(Run.objects.get(is_test=True).pk)
    start_workflow_run(published_workflow, make_document(owner.org, "queued.txt", INVOICE_A))

    response = viewer.client.get(url("workflow_export", published_workflow.pk) + "?format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (f'attachment; filename="invoice-intake-{today}.csv"')
    rows = read_csv(response)
    assert [(r["document"], r["run"]) for r in rows] == [("a.txt", str(a.pk)), ("b.txt", str(b.pk))]
    assert [(r["vendor"], r["date"], r["total"]) for r in rows] == [
        ("Acme Supplies Ltd", "2025-03-14", "120.50"),
        ("Blue Widgets GmbH", "2025-04-02", "75.00"),
    ]


def test_the_export_filters_by_the_day_a_run_started(member, published_workflow):
    a = run_through(published_workflow, "a.txt", INVOICE_A)
    b = run_through(published_workflow, "b.txt", INVOICE_B)
    today = timezone.localdate()
    Run.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=10))
    since = (today - timedelta(days=2)).isoformat()

    recent = member.client.get(
        url("workflow_export", published_workflow.pk) + f"?format=json&since={since}"
    )
    older = member.client.get(
        url("workflow_export", published_workflow.pk) + f"?format=json&until={since}"
    )

    assert recent["Content-Type"] == "application/json"
    assert [row["run"] for row in json.loads(recent.content)] == [b.pk]
    assert [row["document"] for row in json.loads(older.content)] == ["a.txt"]
    assert json.loads(older.content)[0]["fields"]["total"]["value"] == "120.50"


def test_the_xlsx_export_opens_in_a_spreadsheet(member, published_workflow):
    run_through(published_workflow, "a.txt", INVOICE_A)
    response = member.client.get(url("workflow_export", published_workflow.pk) + "?format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert values["document"] == "a.txt"
    assert values["vendor"] == "Acme Supplies Ltd"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?format=pdf", "Cannot export: Format: Select a valid choice. pdf is not one of the"),
        ("?format=csv&since=2025-13-01", "Cannot export: From: Enter a valid date."),
        (
            "?format=csv&since=2025-05-02&until=2025-05-01",
            "Cannot export: To: Pick a date on or after the start date.",
        ),
    ],
)
def test_a_bad_export_request_goes_back_with_a_message(member, published_workflow, query, message):
    response = member.client.get(url("workflow_export", published_workflow.pk) + query)
    assert response.status_code == 302
    assert response.url == url("workflow", published_workflow.pk)
    assert message_texts(response)[0].startswith(message)


# --- re-run on the current version ----------------------------------------------------


def test_chosen_documents_run_again_on_the_current_version(member, published_workflow):
    a = run_through(published_workflow, "a.txt", INVOICE_A)
    b = run_through(published_workflow, "b.txt", INVOICE_B)
    save_draft(published_workflow, [READ, FIELDS, TAG])
    version = publish(published_workflow)
    stranger = make_document(member.org, "not-of-this-workflow.txt", INVOICE_A)

    response = member.client.post(
        url("workflow_rerun", published_workflow.pk),
        {"document": [str(a.document.uid), str(stranger.uid), "not-a-uuid"]},
    )

    assert response.status_code == 302
    assert message_texts(response) == ["Running 1 document again on version 2."]
    again = Run.objects.filter(trigger=Run.Trigger.RERUN).get()
    assert (again.document, again.workflow_version, again.triggered_by) == (
        a.document,
        version,
        member.user,
    )
    assert not Run.objects.filter(document=b.document, trigger=Run.Trigger.RERUN).exists()

    member.client.post(url("workflow_rerun", published_workflow.pk), {"all": "1"})
    rerun = Run.objects.filter(trigger=Run.Trigger.RERUN)
    assert sorted(r.document.original_name for r in rerun) == ["a.txt", "a.txt", "b.txt"]
    page = member.client.get(url("workflow", published_workflow.pk))
    assert page.context["document_count"] == 2
    assert "5 runs of 2 documents" in page.content.decode()


def test_re_running_nothing_says_so(member, published_workflow):
    response = member.client.post(url("workflow_rerun", published_workflow.pk), {})
    assert message_texts(response) == ["Choose the documents to run again."]
    assert Run.objects.count() == 0


def test_a_viewer_cannot_re_run(viewer, published_workflow):
    run = run_through(published_workflow, "a.txt", INVOICE_A)
    response = viewer.client.post(url("workflow_rerun", published_workflow.pk), {"all": "1"})
    assert response.status_code == 403
    assert list(Run.objects.all()) == [run]


# --- rename and delete ----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_rename_and_delete_keeping_runs_and_documents(
    org, published_workflow, role
):
    person = _persona(org, role)
    run = run_through(published_workflow, "a.txt", INVOICE_A)

    renamed = person.client.post(
        url("workflow_rename", published_workflow.pk), {"name": "  AP inbox "}
    )
    assert renamed.status_code == 302
    published_workflow.refresh_from_db()
    assert published_workflow.name == "AP inbox"

    deleted = person.client.post(url("workflow_delete", published_workflow.pk))
    assert deleted.status_code == 302
    assert deleted.url == url("workflows")
    assert not Workflow.objects.filter(pk=published_workflow.pk).exists()
    run.refresh_from_db()
    assert (run.workflow, run.workflow_version, run.status) == (None, None, Run.Status.SUCCEEDED)
    assert Document.objects.filter(pk=run.document_id).exists()


def test_an_empty_name_is_refused(owner, published_workflow):
    response = owner.client.post(url("workflow_rename", published_workflow.pk), {"name": "   "})
    assert message_texts(response) == ["Give the workflow a name."]
    published_workflow.refresh_from_db()
    assert published_workflow.name == "Invoice intake"


@pytest.mark.parametrize("persona", ["member", "viewer"])
def test_members_and_viewers_cannot_rename_or_delete(request, published_workflow, persona):
    person = request.getfixturevalue(persona)
    page = person.client.get(url("workflow", published_workflow.pk)).content.decode()
    assert "Delete workflow" not in page
    rename = person.client.post(url("workflow_rename", published_workflow.pk), {"name": "Mine"})
    delete = person.client.post(url("workflow_delete", published_workflow.pk))
    assert (rename.status_code, delete.status_code) == (403, 403)
    published_workflow.refresh_from_db()
    assert published_workflow.name == "Invoice intake"


# --- another organization, anonymous --------------------------------------------------

GETS = ["workflow", "workflow_history", "workflow_export"]
POSTS = ["workflow", "workflow_rerun", "workflow_rename", "workflow_delete"]


@pytest.mark.parametrize("name", GETS)
def test_another_organization_gets_404_on_every_workflow_page(outsider, published_workflow, name):
    assert outsider.client.get(url(name, published_workflow.pk) + "?format=csv").status_code == 404


@pytest.mark.parametrize("name", POSTS)
def test_another_organization_changes_nothing(outsider, published_workflow, name):
    run = run_through(published_workflow, "a.txt", INVOICE_A)
    data = {"name": "Taken", "all": "1", "files": [upload("x.txt", INVOICE_A)]}
    assert outsider.client.post(url(name, published_workflow.pk), data).status_code == 404
    restore = outsider.client.post(url("workflow_restore", published_workflow.pk, 1))
    assert restore.status_code == 404
    published_workflow.refresh_from_db()
    assert published_workflow.name == "Invoice intake"
    assert list(Run.objects.all()) == [run]
    assert Document.objects.count() == 1


def test_another_organization_does_not_see_the_workflow_in_its_list(outsider, published_workflow):
    response = outsider.client.get(url("workflows"))
    assert list(response.context["workflows"]) == []
    assert url("workflow", published_workflow.pk) not in response.content.decode()


@pytest.mark.parametrize("name", ["workflows", "workflow", "workflow_history", "workflow_export"])
def test_anonymous_is_sent_to_login(client, published_workflow, name):
    args = [] if name == "workflows" else [published_workflow.pk]
    response = client.get(url(name, *args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
