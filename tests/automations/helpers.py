"""Plain helpers of automations' tests: uploads, stored and run documents, page paths, flash
messages and the builder's boot data, and table rows added as the table step adds them."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from automations import intake, tables
from automations.models import DataTable, Document, Run, TableRow
from automations.runs.execute import execute_run


def upload(name: str, data: bytes, mime: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=mime)


def make_document(org: Organization, name: str, data: bytes, user=None) -> Document:
    """Store a document the way an upload does (the run is queued, not executed)."""
    return intake.ingest(org, io.BytesIO(data), name, user=user)


def run_pipeline_on(org: Organization, name: str, data: bytes, steps: list[dict]) -> Run:
    """Store a document as an upload does and run it here (not on a worker) through `steps`
    instead of the reading an upload queues."""
    run = make_document(org, name, data).runs.get()
    Run.objects.filter(pk=run.pk).update(pipeline=steps)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def url(name: str, *args) -> str:
    """The path of an automations page by its URL name."""
    return reverse(f"automations:{name}", args=args)


def message_texts(response) -> list[str]:
    """The flash messages a response set, as text."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def boot_data(response) -> dict:
    """The JSON the page hands its script (json_script)."""
    found = re.search(
        r'<script id="builder-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(found.group(1))


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


TABLE_ROWS = [  # vendor, total, date (as a receipt workflow adds them)
    {"vendor": "corner cafe", "total": "10", "date": "2026-03-14"},
    {"vendor": "Bakery", "total": "9.50", "date": "2025-12-01"},
    {"vendor": "=cmd|' /C calc'!A0", "total": "1,234.50", "date": None},
    {"vendor": "Átomo", "total": None, "date": "2026-01-05T10:00:00"},
    {"vendor": "deli", "total": "-3", "date": "2026-01-05"},
]


def add_rows(org: Organization, values: list[dict], name: str = "Expenses") -> DataTable:
    """Rows added the way the table step adds them: one run (and document) each."""
    start = timezone.now() - timedelta(hours=1)
    for index, row_values in enumerate(values):
        document = make_document(org, f"receipt-{index}.txt", f"receipt {index}".encode())
        row = tables.append_row(document.runs.get(), "add", name, row_values)
        TableRow.objects.filter(pk=row.pk).update(created_at=start + timedelta(minutes=index))
    return DataTable.objects.get(organization=org, name=name)
