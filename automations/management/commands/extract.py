"""python manage.py extract --preset receipt|invoice [--org SLUG] FILE...

Prints one JSON object per file: {"file", "fields": {name: {"value", "confidence"}}}, or
{"file", "error"}. With --org the files are also stored as documents of that organization
(with their runs and results), so a batch import shows up in its dashboard.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from automations import intake
from automations.engine.fields import PRESETS
from automations.engine.fields.order import ordered_fields
from automations.management.commands._batch import emit_each, find_org
from automations.models import Document, Run
from automations.runs.execute import execute_run
from catalog.predict import PredictError, PredictInput, predict

SLUGS = {"receipt": "receipt-extractor", "invoice": "invoice-extractor"}


def fields_line(output: dict) -> dict:
    return {
        "fields": {
            name: {"value": found["value"], "confidence": round(found["confidence"], 3)}
            for name, found in ordered_fields(output)
        }
    }


class Command(BaseCommand):
    help = "Extract the fields of a preset from files; one JSON line per file on stdout."

    def add_arguments(self, parser):
        parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
        parser.add_argument("--org", help="also store the files as documents of this organization")
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, preset: str, org: str | None, files: list[str], **options):
        organization = find_org(org)

        def one(path: str) -> dict:
            if organization is not None:
                return fields_line(store_and_extract(organization, path, preset))
            result = predict(
                SLUGS[preset],
                PredictInput(file_path=path, file_name=path),
                ocr_engine=settings.PYQ_OCR_ENGINE,
                step_time_limit=settings.PYQ_STEP_TIME_LIMIT,
            )
            if result["error"]:
                raise PredictError(result["error"])
            return fields_line(result["output"])

        if emit_each(self, files, one):
            sys.exit(1)


def store_and_extract(org, path: str, preset: str) -> dict:
    """Store the file as a document of `org`, run it here, and return the fields output."""
    with open(path, "rb") as fh:
        document = intake.ingest(
            org,
            fh,
            path,
            source=Document.Source.API,
            trigger=Run.Trigger.API,
            pipeline=[
                {"id": "text", "step": "extract_text"},
                {"id": "fields", "step": "extract_fields", "config": {"preset": preset}},
            ],
            enqueue=False,
        )
    run = document.runs.get()
    execute_run(run.pk)
    run.refresh_from_db()
    if run.status != Run.Status.SUCCEEDED:
        raise PredictError(run.error)
    return run.output_of("extract_fields")
