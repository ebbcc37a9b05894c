"""python manage.py classify --labels "a,b,c" [--model SLUG] FILE...

Prints one JSON object per file: {"file", "label", "score"}, or {"file", "error"}.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from automations.management.commands._batch import emit_each
from catalog.predict import PredictError, PredictInput, predict
from catalog.registry import BY_SLUG


class Command(BaseCommand):
    help = "Classify files into the given labels; one JSON line per file on stdout."

    def add_arguments(self, parser):
        parser.add_argument(
            "--labels", default="", help='comma-separated, e.g. "a,b,c" (not for a trained model)'
        )
        parser.add_argument("--model", default="minilm-classifier")
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, labels: str, model: str, files: list[str], **options):
        if model not in BY_SLUG or BY_SLUG[model].step != "classify":
            choices = ", ".join(m.slug for m in BY_SLUG.values() if m.step == "classify")
            raise CommandError(f"{model!r} is not a classifier; choose one of: {choices}.")
        names = [label.strip() for label in labels.split(",")] if labels else []
        trained = bool(BY_SLUG[model].base_config.get("classifier"))
        if not trained and not names:
            raise CommandError('Give the labels to choose from: --labels "a,b,c".')
        options = {} if trained else {"labels": names}

        def one(path: str) -> dict:
            result = predict(
                model,
                PredictInput(file_path=path, file_name=path, options=options),
                ocr_engine=settings.PYQ_OCR_ENGINE,
                step_time_limit=settings.PYQ_STEP_TIME_LIMIT,
            )
            if result["error"]:
                raise PredictError(result["error"])
            return {"label": result["output"]["label"], "score": result["output"]["score"]}

        if emit_each(self, files, one):
            sys.exit(1)
