"""The worker's side of what steps may ask of the world during a run (the contract is
automations/engine/ports.py).

Attachments of a mail are stored through automations.intake: the one door from runs to intake.
"""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from automations import delivery
from automations.engine.extract import PageResult, parse_email
from automations.engine.fields import PageText
from automations.engine.filetypes import InputLimits
from automations.engine.ports import Action
from automations.engine.similarity import near_duplicates
from automations.engine.steps import StepFailed
from automations.intake import AttachmentError, ingest_attachments
from automations.models import Artifact, Document, DocumentEmbedding, Page, Run, StepRun
from automations.runs.store import (
    BatchWriter,
    load_pages,
    page_fields,
    page_text,
    record_action,
    save_page,
)
from automations.tables import append_row
from catalog.runtime.embeddings import Embedder, load_embedder
from catalog.runtime.ocr import OcrEngine, get_ocr_engine
from pyq_site.uploads import input_limits

# The namespace of actions' keys (UUID 5 of a run's step and the action's kind).
ACTIONS = uuid.UUID("5b0c4a52-8f6e-4d4e-9a53-7079712d6163")


class RunServices:
    """What steps may ask of the outside world during a run: the worker's implementation of
    automations.engine.ports.StepServices, backed by the database and the file storage."""

    def __init__(
        self,
        run: Run,
        pages: list[PageText] | None = None,
        writer: BatchWriter | None = None,
    ) -> None:
        self.run = run
        self.document = run.document
        self.current_step = ""
        self.current_row: StepRun | None = None  # the current step's row (its store's)
        self.begun: dict[str, bool] = {}  # keys of actions begun here -> whether a repeat
        # The document's stored pages, kept up to date as extract_text stores more.
        self.pages = load_pages(self.document) if pages is None else list(pages)
        self.writer = writer or BatchWriter([run])

    # extract_text
    @property
    def max_pages(self) -> int:
        return settings.PYQ_MAX_PAGES

    @property
    def input_limits(self) -> InputLimits:
        return input_limits()

    def ocr(self, preference: str) -> OcrEngine:
        return get_ocr_engine(settings.PYQ_OCR_ENGINE if preference == "default" else preference)

    def pages_done(self) -> int:
        return len(self.pages)

    def store_page(self, result: PageResult) -> None:
        exists = any(p.number == result.number for p in self.pages)
        if result.image is None and not exists:
            # A text page: written with the batch's other rows when the step ends.
            page = Page(document=self.document, number=result.number, **page_fields(result))
            self.writer.add_page(self.run, page)
        else:
            page = save_page(self.document, result, exists=exists)
        self.pages = [p for p in self.pages if p.number != result.number]
        self.pages.append(page_text(page))
        self.pages.sort(key=lambda p: p.number)
        progress = {
            "pages_done": result.number,
            "pages_total": max(self.run.pages_total, result.number),
        }
        if result.number > 1 or self.run.pages_total > 1:
            # Live progress for a document of several pages (OCR takes seconds a page).
            Run.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now(), **progress)
            for name, value in progress.items():
                setattr(self.run, name, value)
        else:
            self.writer.update_run(self.run, progress)

    def load_pages(self) -> list[PageText]:
        return list(self.pages)

    def ingest_attachments(self, path: str) -> None:
        _ingest_attachments(self.run, path)

    # classify, summarize, similar_documents
    def embedder(self, ref: str) -> Embedder:
        return load_embedder(ref)

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        rows = (
            DocumentEmbedding.objects.filter(organization=self.document.organization_id)
            .exclude(document=self.document)
            .select_related("document")
        )
        candidates = [(row.document, np.frombuffer(row.vector, dtype=np.float32)) for row in rows]
        return [
            {
                "document": str(hit["document"].uid),
                "name": hit["document"].original_name,
                "score": hit["score"],
            }
            for hit in near_duplicates(vector, candidates, threshold, limit)
        ]

    def store_embedding(self, vector: list[float], model: str = "minilm") -> None:
        DocumentEmbedding.objects.update_or_create(
            document=self.document,
            model=model,
            defaults={
                "organization_id": self.document.organization_id,
                "vector": np.asarray(vector, dtype=np.float32).tobytes(),
            },
        )

    # tag
    def tag_document(self, tags: list[str], doc_type: str | None) -> dict:
        document = Document.objects.get(pk=self.document.pk)
        document.tags = list(dict.fromkeys([*document.tags, *tags]))
        if doc_type:
            document.doc_type = doc_type
        document.save(update_fields=["tags", "doc_type"])
        return {"tags": document.tags, "doc_type": document.doc_type}

    # redact
    def page_image(self, number: int) -> Image.Image | None:
        page = self.document.pages.filter(number=number).first()
        if page is None or not page.image:
            return None
        with page.image.open("rb") as fh:
            return Image.open(io.BytesIO(fh.read())).convert("RGB")

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        """Keep the file; one of that name this step kept before (its worker stopped after
        saving it) is replaced, so a resumed step leaves one copy, under the same reference."""
        artifact = Artifact.objects.filter(
            run=self.run, step_id=self.current_step, name=filename
        ).first() or Artifact(run=self.run, step_id=self.current_step, name=filename)
        if artifact.file:
            artifact.file.delete(save=False)
        artifact.content_type = content_type
        artifact.file.save(filename, ContentFile(data), save=False)
        artifact.save()
        return str(artifact.uid)

    # webhook
    @property
    def allow_private_urls(self) -> bool:
        return settings.PYQ_ALLOW_PRIVATE_URLS

    # email, table (automations/delivery.py, automations/tables.py)
    @property
    def run_url(self) -> str:
        return delivery.run_url(self.run)

    def send_email(self, **message: Any) -> dict:
        return delivery.send_email(self.run, **message)

    def append_table_row(self, table: str, values: dict) -> dict:
        row = append_row(self.run, self.current_step, table, values)
        return {"table": row.table.name, "row": row.pk}

    def begin_action(self, kind: str) -> Action:
        """The action's key, from the run and the step (action_key), recorded on the step's
        row before the first attempt; in this execution, once."""
        key = action_key(self.run, self.current_step, kind)
        if key not in self.begun:
            row = self.current_row
            if row is not None and row.pk is None:
                self.writer.flush()
            self.begun[key] = row is not None and record_action(row, kind, key)
        return Action(key, repeat=self.begun[key])

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def action_key(run: Run, step_id: str, kind: str) -> str:
    """The idempotency key of a step's action: the same for every attempt, retry and
    resumption of that step of that run, so nothing needs to be stored before it is known;
    unique across deployments by the document's random uid. A retry on a newer version of
    the workflow (whose data may differ), or a new run, gets new keys."""
    version = run.workflow_version_id or 0
    name = f"{run.document.uid}/{run.pk}/{version}/{step_id}/{kind}"
    return uuid.uuid5(ACTIONS, name).hex


def _ingest_attachments(run: Run, path: str) -> None:
    """Each attachment of a mail becomes its own Document and Run, run as the mail's run is
    (its steps, workflow version or draft test, trigger): all of them together, once, even
    if the task is redelivered or the run retried (intake.ingest_attachments).
    A mail past the limits, or an attachment that could not be stored, fails the step
    with the reason; nothing of it is kept, so a retry stores them all."""
    content = parse_email(path, input_limits())  # ExtractionError: the step fails with it
    try:
        skipped = ingest_attachments(run, [(a.filename, a.data) for a in content.attachments])
    except AttachmentError as exc:
        raise StepFailed(str(exc)) from exc
    messages = [f"Attachment {r.filename} was skipped: {r.message}" for r in skipped]
    warnings = list(dict.fromkeys([*run.warnings, *messages]))
    if warnings != run.warnings:
        run.warnings = warnings
        run.save(update_fields=["warnings"])
