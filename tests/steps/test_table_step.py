"""The table step: a run's extracted fields become one row of the organization's table,
created on first use, new columns appended in order, once per run even when redelivered."""

from __future__ import annotations

import pytest

from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError, StepFailed, get_step
from automations.models import DataTable, Run, StepRun, TableRow
from automations.runs.execute import execute_run
from tests import files
from tests.automations.helpers import run_pipeline_on
from tests.steps.fakes import FakeServices

RECEIPT_STEPS = [
    {"id": "text", "step": "extract_text"},
    {"id": "fields", "step": "extract_fields", "config": {"preset": "receipt"}},
    {"id": "add", "step": "table", "config": {"table": "Expenses"}},
]
RECEIPT_COLUMNS = ["vendor", "address", "date", "total", "tax", "currency"]


def receipt_pdf(vendor: str = "CORNER CAFE", total: str = "7.75") -> bytes:
    lines = [vendor, *files.RECEIPT[1:5], f"TOTAL {total} GBP"]
    return files.text_pdf(["\n".join(lines)])


def test_a_receipt_becomes_a_row_of_a_new_table(owner) -> None:
    # Given a workflow that reads receipts into the Expenses table, which does not exist yet
    # When a receipt is run through it
    run = run_pipeline_on(owner.org, "cafe.pdf", receipt_pdf(), RECEIPT_STEPS)
    # Then the run succeeded and the organization has the table, with the receipt's fields
    assert (run.status, run.error) == (Run.Status.SUCCEEDED, "")
    table = DataTable.objects.get(organization=owner.org)
    assert (table.name, table.columns) == ("Expenses", RECEIPT_COLUMNS)
    row = TableRow.objects.get(table=table)
    assert row.values == {
        "vendor": "CORNER CAFE",
        "address": "12 High Street, London",
        "date": "2026-03-14",
        "total": "7.75",
        "tax": None,
        "currency": "GBP",
    }
    assert (row.organization, row.run, row.step_id, row.document) == (
        owner.org,
        run,
        "add",
        run.document,
    )
    # And the step's output names the table and the row
    step = run.steps.get(step_id="add")
    assert step.status == StepRun.Status.SUCCEEDED
    assert step.output == {"table": "Expenses", "row": row.pk, "values": row.values}


def test_chosen_columns_add_new_columns_in_order_to_the_same_table(owner) -> None:
    # Given the Expenses table made by a first receipt
    run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), RECEIPT_STEPS)
    # When a workflow naming it in other letters maps its own columns, two of them new
    steps = [
        *RECEIPT_STEPS[:2],
        {
            "id": "add",
            "step": "table",
            "config": {
                "table": "  expenses ",
                "columns": {
                    "total": "fields.fields.total.value",
                    "paid in": "fields.fields.currency.value",
                    "sure": "fields.fields.total.confidence",
                    "vendor": "fields.fields.vendor",
                },
            },
        },
    ]
    run = run_pipeline_on(owner.org, "b.pdf", receipt_pdf("BAKERY", "3.10"), steps)
    # Then the row went into the same table, whose new columns follow the old ones
    assert run.status == Run.Status.SUCCEEDED
    table = DataTable.objects.get(organization=owner.org)
    assert table.columns == [*RECEIPT_COLUMNS, "paid in", "sure"]
    row = TableRow.objects.get(run=run)
    # (a whole extracted field gives its value; numbers are kept as text)
    assert row.values == {"total": "3.10", "paid in": "GBP", "sure": "0.72", "vendor": "BAKERY"}
    assert TableRow.objects.filter(table=table).count() == 2


def test_a_reference_that_finds_nothing_leaves_the_cell_empty_with_a_warning(owner) -> None:
    steps = [
        *RECEIPT_STEPS[:2],
        {
            "id": "add",
            "step": "table",
            "config": {
                "table": "Expenses",
                "columns": {"total": "fields.fields.total.value", "due": "fields.fields.due.value"},
            },
        },
    ]
    run = run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), steps)
    assert run.status == Run.Status.SUCCEEDED
    assert TableRow.objects.get(run=run).values == {"total": "7.75", "due": None}
    assert run.steps.get(step_id="add").warnings == [
        "columns.due: fields.fields.due.value found nothing; it was left empty."
    ]


def test_a_redelivered_step_adds_its_row_once(owner) -> None:
    # Given a run whose table step added its row, but whose worker died before recording it
    run = run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), RECEIPT_STEPS)
    row = TableRow.objects.get(run=run)
    run.steps.filter(step_id="add").delete()
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, heartbeat_at=None)
    # When the task is delivered again
    execute_run(run.pk)
    # Then the step finished, naming the same row, and the table still has one row
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.steps.get(step_id="add").output["row"] == row.pk
    assert list(TableRow.objects.values_list("pk", flat=True)) == [row.pk]
    assert DataTable.objects.get().columns == RECEIPT_COLUMNS


def test_each_organization_has_its_own_table_of_that_name(owner, outsider) -> None:
    run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), RECEIPT_STEPS)
    run_pipeline_on(outsider.org, "b.pdf", receipt_pdf("BAKERY"), RECEIPT_STEPS)
    mine, theirs = (DataTable.objects.get(organization=o) for o in (owner.org, outsider.org))
    assert mine.pk != theirs.pk
    assert mine.name == theirs.name == "Expenses"
    assert [r.values["vendor"] for r in mine.rows.all()] == ["CORNER CAFE"]
    assert [r.values["vendor"] for r in theirs.rows.all()] == ["BAKERY"]
    assert {r.organization_id for r in theirs.rows.all()} == {outsider.org.pk}


def test_without_extracted_fields_the_step_fails_with_a_reason(owner) -> None:
    steps = [{"id": "text", "step": "extract_text"}, RECEIPT_STEPS[2]]
    run = run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), steps)
    assert run.status == Run.Status.FAILED
    assert run.error == (
        "There are no extracted fields to add to the table: put an Extract fields step "
        "before this one, or choose the columns."
    )
    assert not DataTable.objects.exists()


def test_a_document_with_no_fields_adds_no_row_and_says_so(owner) -> None:
    # extract_fields "auto" finds no preset without a Classify result: no fields at all
    steps = [
        {"id": "text", "step": "extract_text"},
        {"id": "fields", "step": "extract_fields", "config": {"preset": "auto"}},
        RECEIPT_STEPS[2],
    ]
    run = run_pipeline_on(owner.org, "a.pdf", receipt_pdf(), steps)
    assert run.status == Run.Status.SUCCEEDED
    step = run.steps.get(step_id="add")
    assert step.output == {"table": "Expenses", "row": None, "values": {}}
    assert step.warnings == [
        "No fields were extracted from this document; no row was added to Expenses."
    ]
    assert not TableRow.objects.exists()


def test_outside_a_workflow_the_step_says_it_needs_the_database(make_context) -> None:
    context = make_context("x")
    context.outputs = {"f": {"fields": {"total": {"value": "1", "confidence": 1.0}}}}
    with pytest.raises(StepFailed, match="needs the dashboard's database"):
        get_step("table").run(context, {"table": "T"})


def test_the_step_hands_the_row_to_the_worker_service(make_context) -> None:
    # Given earlier outputs and a worker service that records what it is asked
    services = FakeServices()
    context = make_context("x", services=services)
    context.outputs = {
        "type": {"label": "invoice", "score": 0.8},
        "fields": {
            "fields": {
                "total": {"value": "118.00", "confidence": 0.9},
                "vendor": {"value": "ACME", "confidence": 0.8},
            },
            "order": ["vendor", "total"],
        },
    }
    config = {"table": "Invoices", "columns": {"kind": "type.label", "score": "type.score"}}
    # When the step runs with and without chosen columns
    mapped = get_step("table").run(context, config)
    default = get_step("table").run(context, {"table": "Invoices"})
    # Then the values are text, and by default every field in its defined order
    assert services.rows == [
        ("Invoices", {"kind": "invoice", "score": "0.8"}),
        ("Invoices", {"vendor": "ACME", "total": "118.00"}),
    ]
    assert list(services.rows[1][1]) == ["vendor", "total"]
    assert mapped.output == {"table": "Invoices", "row": 41, "values": services.rows[0][1]}
    assert default.warnings == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "Add a row to a table: configuration: 'table' is a required property"),
        ({"table": "   "}, "Add a row to a table: table: give the table a name."),
        ({"table": "x" * 121}, "Add a row to a table: table: '" + "x" * 121 + "' is too long"),
        (
            {"table": "T", "columns": {"total": "fields"}},
            "Add a row to a table: columns.total: 'fields' is not a reference like "
            "'fields.fields.total.value' (a step id, then keys, joined by dots).",
        ),
        (
            {"table": "T", "columns": {"total": "Fields.x y"}},
            "Add a row to a table: columns.total: 'Fields.x y' is not a reference like "
            "'fields.fields.total.value' (a step id, then keys, joined by dots).",
        ),
        (
            {"table": "T", "extra": 1},
            "Add a row to a table: configuration: Additional properties are not allowed "
            "('extra' was unexpected)",
        ),
    ],
)
def test_configuration_is_checked_when_the_pipeline_is_parsed(config, message) -> None:
    with pytest.raises(StepConfigError) as refused:
        parse_pipeline([{"step": "table", "config": config}])
    assert str(refused.value) == message


def test_configuration_is_normalised_and_marks_the_reference_map() -> None:
    [spec] = parse_pipeline([{"step": "table", "config": {"table": " My   table ", "columns": {}}}])
    assert spec.config == {"table": "My table"}
    assert get_step("table").config_schema["properties"]["columns"]["x-ref"] == "map"
