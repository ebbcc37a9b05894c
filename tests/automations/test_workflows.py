"""Workflows: a draft edited freely, versions frozen when published, runs that record them."""

import pytest

from automations.models import Run, Workflow, WorkflowVersion
from automations.runs.execute import execute_run
from automations.workflows import (
    WorkflowError,
    changes,
    create_workflow,
    publish,
    restore,
    save_draft,
    start_workflow_run,
)
from tests.automations.helpers import make_document
from tests.factories import READ, SORT


def test_publishing_freezes_the_draft_as_numbered_versions(workflow, owner):
    first = publish(workflow, user=owner.user, note="first")
    save_draft(workflow, [READ, {**SORT, "config": {"labels": ["invoice", "recipe"]}}])
    second = publish(workflow, user=owner.user)
    workflow.refresh_from_db()
    assert [v.number for v in workflow.versions.all()] == [2, 1]
    assert workflow.current_version == second
    assert first.spec == [READ, SORT]
    assert second.spec[1]["config"]["labels"] == ["invoice", "recipe"]
    assert (first.published_by, first.note) == (owner.user, "first")


def test_a_published_version_never_changes(workflow):
    version = publish(workflow)
    version.spec = []
    with pytest.raises(ValueError, match="never changes"):
        version.save()
    assert WorkflowVersion.objects.get(pk=version.pk).spec == [READ, SORT]


def test_an_invalid_draft_is_kept_but_cannot_be_published(workflow):
    save_draft(workflow, [READ, {"id": "type", "step": "classify", "config": {"labels": []}}])
    with pytest.raises(WorkflowError, match="add at least one label"):
        publish(workflow)
    workflow.refresh_from_db()
    assert workflow.versions.count() == 0
    assert workflow.current_version is None
    assert workflow.draft[1]["config"]["labels"] == []


def test_publishing_an_unchanged_draft_is_refused(workflow):
    publish(workflow)
    with pytest.raises(WorkflowError, match="Nothing changed since version 1"):
        publish(workflow)
    assert workflow.versions.count() == 1


def test_an_old_version_is_restored_as_the_draft(workflow):
    first = publish(workflow)
    save_draft(workflow, [READ])
    publish(workflow)
    restore(workflow, first)
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]
    assert workflow.current_version.number == 2  # restoring does not publish
    third = publish(workflow)
    assert (third.number, third.spec) == (3, [READ, SORT])


def test_a_version_of_another_workflow_cannot_be_restored(workflow, owner):
    other = create_workflow(owner.org, "Other", steps=[READ])
    version = publish(other)
    with pytest.raises(WorkflowError):
        restore(workflow, version)
    workflow.refresh_from_db()
    assert workflow.draft == [READ, SORT]


def test_changes_between_versions_are_described():
    new = [
        {**SORT, "config": {"labels": ["invoice"], "threshold": 0.3}},
        READ,
        {"id": "hook", "step": "webhook", "config": {"url": "https://example.com"}},
    ]
    assert changes([READ, SORT], new) == [
        "Added webhook (hook)",
        "Changed type: labels, threshold",
        "Reordered steps: type → text",
    ]
    assert changes([READ, SORT], [READ]) == ["Removed classify (type)"]
    assert changes([READ], [READ]) == []


def test_a_run_records_the_version_it_used_and_runs_its_steps(workflow, owner):
    version = publish(workflow)
    document = make_document(owner.org, "i.txt", b"Invoice 42, total due 93.50 EUR by Friday")
    run = start_workflow_run(workflow, document, user=owner.user)
    save_draft(workflow, [READ])  # editing the draft later changes nothing for this run
    publish(workflow)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.workflow_version == version
    assert run.status == Run.Status.SUCCEEDED
    assert [s.step_id for s in run.steps.all()] == ["text", "type"]
    assert run.output_of("classify")["label"] == "invoice"


def test_an_unpublished_workflow_or_another_orgs_document_cannot_run(workflow, owner, outsider):
    document = make_document(owner.org, "a.txt", b"hello there")
    with pytest.raises(WorkflowError, match="Publish Invoice intake"):
        start_workflow_run(workflow, document)
    publish(workflow)
    foreign = make_document(outsider.org, "b.txt", b"hello there")
    with pytest.raises(WorkflowError, match="another organization"):
        start_workflow_run(workflow, foreign)
    assert foreign.runs.count() == 1  # only the upload's own run


def test_workflows_are_reached_through_their_organization(workflow, outsider):
    assert list(Workflow.objects.for_org(outsider.org)) == []
    assert list(Workflow.objects.for_org(workflow.organization)) == [workflow]


def test_a_workflow_needs_a_name(owner):
    with pytest.raises(WorkflowError, match="name"):
        create_workflow(owner.org, "  ")
    assert Workflow.objects.count() == 0
