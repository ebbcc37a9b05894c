"""Every destructive action, tried by each role: the allowed ones do it, a refused role of
the same organization gets a 403, another organization's owner a 404, and a refusal changes
nothing. The table is docs/architecture.md's "Destructive actions and who may do them"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, Role
from automations import tables
from automations.models import DataTable, Document, Run, TableRow, Trigger, Workflow
from automations.triggers import create_trigger
from automations.workflows import create_workflow, publish, save_draft
from tests.automations.helpers import make_document, stored_files
from tests.factories import MembershipFactory

READ = {"id": "text", "step": "extract_text"}
SORT = {"id": "type", "step": "classify", "config": {"labels": ["invoice"]}}
EDITORS = {"owner", "admin", "member"}
MANAGERS = {"owner", "admin"}
ROLES = ["owner", "admin", "member", "viewer", "outsider"]


@dataclass
class Action:
    url: str
    done: Callable[[], bool]  # the action took place
    state: Callable[[], Any]  # what a refusal must leave as it was
    data: dict | None = None  # the form, where the action takes one


def _document(org, user):
    return make_document(org, "invoice.txt", b"Invoice 4721 total 10 EUR", user=user)


def delete_document(org, user) -> Action:
    document = _document(org, user)
    return Action(
        reverse("automations:delete", args=[document.uid]),
        done=lambda: not Document.objects.filter(pk=document.pk).exists(),
        state=lambda: (
            list(Document.objects.values_list("pk", flat=True)),
            Run.objects.count(),
            stored_files(),
        ),
    )


def reprocess_document(org, user) -> Action:
    document = _document(org, user)
    return Action(
        reverse("automations:reprocess", args=[document.uid]),
        done=lambda: document.runs.count() == 2,
        state=lambda: (list(document.runs.values_list("pk", "status")), document.pages.count()),
    )


def cancel_run(org, user) -> Action:
    run = _document(org, user).runs.get()
    return Action(
        reverse("automations:run_cancel", args=[run.pk]),
        done=lambda: Run.objects.get(pk=run.pk).status == Run.Status.CANCELED,
        state=lambda: Run.objects.values_list("status", "error").get(pk=run.pk),
    )


def delete_workflow(org, user) -> Action:
    workflow = create_workflow(org, "Invoices", user=user, steps=[READ])
    return Action(
        reverse("automations:workflow_delete", args=[workflow.pk]),
        done=lambda: not Workflow.objects.filter(pk=workflow.pk).exists(),
        state=lambda: list(Workflow.objects.values_list("pk", "name", "draft")),
    )


def restore_version(org, user) -> Action:
    workflow = create_workflow(org, "Invoices", user=user, steps=[READ])
    publish(workflow, user=user)
    save_draft(workflow, [READ, SORT], user=user)
    return Action(
        reverse("automations:workflow_restore", args=[workflow.pk, 1]),
        done=lambda: Workflow.objects.get(pk=workflow.pk).draft == [READ],
        state=lambda: Workflow.objects.values_list("draft", "draft_updated_at").get(pk=workflow.pk),
    )


def _table(org, user) -> DataTable:
    for index in range(2):
        document = make_document(org, f"receipt-{index}.txt", f"receipt {index}".encode())
        tables.append_row(document.runs.get(), "add", "Expenses", {"total": str(index)})
    return DataTable.objects.get(organization=org, name="Expenses")


def delete_table(org, user) -> Action:
    table = _table(org, user)
    return Action(
        reverse("automations:table_delete", args=[table.pk]),
        done=lambda: not DataTable.objects.filter(pk=table.pk).exists(),
        state=lambda: (
            list(DataTable.objects.values_list("pk", "name")),
            list(TableRow.objects.values_list("pk", "values")),
        ),
    )


def delete_table_row(org, user) -> Action:
    table = _table(org, user)
    row = table.rows.first()
    return Action(
        reverse("automations:table_row_delete", args=[table.pk, row.pk]),
        done=lambda: not TableRow.objects.filter(pk=row.pk).exists(),
        state=lambda: list(TableRow.objects.values_list("pk", "values")),
    )


def overwrite_table_row(org, user) -> Action:
    table = _table(org, user)
    row = table.rows.first()
    return Action(
        reverse("automations:table_row_edit", args=[table.pk, row.pk]),
        done=lambda: TableRow.objects.get(pk=row.pk).values == {"total": "999"},
        state=lambda: TableRow.objects.values_list("values", "updated_by").get(pk=row.pk),
        data={f"r{row.pk}-c0": "999"},
    )


def revoke_api_key(org, user) -> Action:
    key, _raw = ApiKey.issue(org, user, "Accounting export")
    return Action(
        reverse("accounts:revoke_api_key", args=[key.pk]),
        done=lambda: ApiKey.objects.get(pk=key.pk).revoked_at is not None,
        state=lambda: ApiKey.objects.values_list("revoked_at", "name").get(pk=key.pk),
    )


def change_workflow_address(org, user) -> Action:
    workflow = create_workflow(org, "Invoices", user=user, steps=[READ])
    trigger = create_trigger(workflow, Trigger.Kind.WEBHOOK, user=user)
    return Action(
        reverse("automations:trigger_rotate", args=[workflow.pk, trigger.pk]),
        done=lambda: Trigger.objects.get(pk=trigger.pk).token != trigger.token,
        state=lambda: Trigger.objects.values_list("token", "address").get(pk=trigger.pk),
    )


# name: (how to prepare it, the roles that may do it)
ACTIONS: dict[str, tuple[Callable[..., Action], set[str]]] = {
    "delete a document": (delete_document, EDITORS),
    "read a document again": (reprocess_document, EDITORS),
    "cancel a run": (cancel_run, EDITORS),
    "delete a workflow": (delete_workflow, MANAGERS),
    "restore an old version": (restore_version, EDITORS),
    "delete a table": (delete_table, MANAGERS),
    "delete a table row": (delete_table_row, EDITORS),
    "overwrite a table row": (overwrite_table_row, EDITORS),
    "revoke an API key": (revoke_api_key, MANAGERS),
    "change a workflow's web address": (change_workflow_address, MANAGERS),
}


@pytest.fixture
def admin(org):
    membership = MembershipFactory(organization=org, role=Role.ADMIN)
    client = Client()
    client.force_login(membership.user)
    return type("Persona", (), {"user": membership.user, "org": org, "client": client})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_destructive_action_by_each_role(request, owner, name, role):
    prepare, allowed = ACTIONS[name]
    action = prepare(owner.org, owner.user)
    persona = request.getfixturevalue(role)
    before = action.state()

    response = persona.client.post(action.url, action.data or {})

    if role in allowed:
        assert response.status_code == 302, response.content[:300]
        assert action.done()
        return
    assert response.status_code == (404 if role == "outsider" else 403)
    assert not action.done()
    assert action.state() == before


def test_the_table_page_shows_the_delete_button_to_managers_only(owner, admin, member, viewer):
    table = _table(owner.org, owner.user)
    url = reverse("automations:table", args=[table.pk])
    shown = {
        role: "Delete table" in persona.client.get(url).content.decode()
        for role, persona in {
            "owner": owner,
            "admin": admin,
            "member": member,
            "viewer": viewer,
        }.items()
    }
    assert shown == {"owner": True, "admin": True, "member": False, "viewer": False}
