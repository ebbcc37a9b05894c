"""What a step may ask of the world: the one, typed contract between steps and whoever runs them.

A step reads its document from `StepContext` and asks everything else of
`context.services`, an object that keeps `StepServices`: store a page, get an embedder,
find similar documents, ingest a mail's attachments, send mail, add a table row… Steps call
these methods directly (no lookups by name, no `hasattr`), so renaming one is a type error
(mypy) and a failing test (tests/engine/test_ports.py), not a run that silently skips work.

Two implementations:
- `automations.runs.services.RunServices`: the worker's, backed by the database and storage.
- `MemoryServices` below: everything in memory, for the playground and the prediction API
  (catalog/predict.py), the command line, benchmarks and tests. It does what can be done
  without a database (pages, images, artefacts, tags and a document store live in the
  object) and refuses, with the reason, what cannot (sending mail, adding table rows).

An action outside Pyq (a webhook's delivery, a mail) is begun with `begin_action`, which
records it before the first attempt and gives it a key that stays the same when the step is
tried again or resumed after its worker stopped (ADR 34).

Pure Python, no Django.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from automations.engine.errors import StepFailed
from automations.engine.extract import PageResult
from automations.engine.fields import PageText
from automations.engine.filetypes import DEFAULT_LIMITS, InputLimits
from automations.engine.similarity import near_duplicates
from catalog.runtime.embeddings import Embedder, load_embedder
from catalog.runtime.ocr import OcrEngine, get_ocr_engine

# Without a deployment's setting, the OCR engine that measured best (README, bench/ocr.py).
DEFAULT_OCR = "rapidocr"
# Without a deployment's limit, a step's own `max_pages` setting decides.
NO_PAGE_LIMIT = 1_000_000


class Unavailable(StepFailed):
    """This run cannot do what the step asks (no mail settings, no tables): the step fails
    with a message that says where it works."""


@dataclass(frozen=True)
class Action:
    """An effect outside Pyq a step is about to have (a webhook's delivery, a mail), as
    `StepServices.begin_action` recorded it before the first attempt."""

    key: str  # its idempotency key: the same on every attempt, retry and resumption
    # An earlier execution of this step began the same action and stopped before the step
    # finished: it may have happened already, and this is a repeat with the same key.
    repeat: bool = False


@runtime_checkable
class StepServices(Protocol):
    """Everything a step may ask of the world during a run."""

    # --- reading (extract_text) ---------------------------------------------------------
    @property
    def max_pages(self) -> int:
        """The deployment's page limit (a step's own setting may be lower)."""

    @property
    def input_limits(self) -> InputLimits:
        """How far a file may unpack before it is refused."""

    def ocr(self, preference: str) -> OcrEngine:
        """The OCR engine for a step's setting ("default": the deployment's choice)."""

    def pages_done(self) -> int:
        """How many pages of this document are already stored (a resumed run skips them)."""

    def store_page(self, result: PageResult) -> None:
        """Keep one page that was read (its text, boxes and picture)."""

    def load_pages(self) -> list[PageText]:
        """Every stored page of this document, in order."""

    def ingest_attachments(self, path: str) -> None:
        """Start the attachments of the mail at `path` as documents of their own."""

    # --- understanding (classify, summarize, similar_documents) --------------------------
    def embedder(self, ref: str) -> Embedder:
        """The embedding model `ref` (a catalog name), loaded once per process."""

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        """Other documents whose vectors are at least `threshold` alike, best first:
        ``{"document": id, "name": file name, "score": cosine}``."""

    def store_embedding(self, vector: list[float], model: str = "minilm") -> None:
        """Keep this document's vector for later `find_similar` calls."""

    # --- transforming (tag, redact) ------------------------------------------------------
    def tag_document(self, tags: list[str], doc_type: str | None) -> dict:
        """Add tags (and set the type) of this document: ``{"tags": [...], "doc_type": ...}``."""

    def page_image(self, number: int) -> Image.Image | None:
        """The picture of page `number`, or None when there is none."""

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        """Keep a file the step made (a redacted copy); returns a reference to it. A file
        of the same name this step kept before (a resumed step) is replaced."""

    # --- delivering (webhook, email, table) ----------------------------------------------
    @property
    def allow_private_urls(self) -> bool:
        """Whether webhooks may call addresses inside the deployment's network."""

    @property
    def run_url(self) -> str:
        """The address of this run's page, for links in mail ("" when there is none)."""

    def send_email(self, **message: Any) -> dict:
        """Send one mail (to, subject, text, html, reply_to, attachments, and the key of the
        action that makes its Message-ID): ``{"message_id": ...}``."""

    def append_table_row(self, table: str, values: dict) -> dict:
        """Add one row to the organization's table: ``{"table": name, "row": id}``."""

    def begin_action(self, kind: str) -> Action:
        """Record, before its first attempt, that this step is about to act outside Pyq
        (`kind`: "webhook", "email"), and get the action's key, the same on every attempt,
        retry and resumption of this step in this run, for receivers to skip a repeat by."""

    def sleep(self, seconds: float) -> None:
        """Wait between a webhook's attempts."""


@dataclass
class MemoryServices:
    """`StepServices` with everything kept in this object: nothing is stored anywhere else.

    Several objects may share one document store (`embeddings`) so that documents read one
    after another find each other, as in a workflow.
    """

    name: str = "document"  # how find_similar names this document to the others
    ocr_engine: str = DEFAULT_OCR
    max_pages: int = NO_PAGE_LIMIT
    input_limits: InputLimits = DEFAULT_LIMITS
    allow_private_urls: bool = False
    run_url: str = ""
    pages: list[PageText] = field(default_factory=list)
    images: dict[int, Image.Image] = field(default_factory=dict)
    artifacts: list[dict] = field(default_factory=list)
    embeddings: list[tuple[str, np.ndarray]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    doc_type: str | None = None

    def ocr(self, preference: str) -> OcrEngine:
        return get_ocr_engine(self.ocr_engine if preference == "default" else preference)

    def pages_done(self) -> int:
        return len(self.pages)

    def store_page(self, result: PageResult) -> None:
        width, height = result.image.size if result.image is not None else (None, None)
        page = PageText(result.number, result.text, list(result.lines), width, height)
        self.pages = sorted(
            [p for p in self.pages if p.number != result.number] + [page], key=lambda p: p.number
        )
        if result.image is not None:
            self.images[result.number] = result.image

    def load_pages(self) -> list[PageText]:
        return list(self.pages)

    def ingest_attachments(self, path: str) -> None:
        """Nothing: without a database a mail's attachments are not documents of their own
        (the mail's text is still read)."""

    def embedder(self, ref: str) -> Embedder:
        return load_embedder(ref)

    def find_similar(self, vector: list[float], threshold: float, limit: int) -> list[dict]:
        others = [(name, row) for name, row in self.embeddings if name != self.name]
        hits = near_duplicates(vector, others, threshold, limit)
        return [
            {"document": h["document"], "name": h["document"], "score": h["score"]} for h in hits
        ]

    def store_embedding(self, vector: list[float], model: str = "minilm") -> None:
        self.embeddings[:] = [(n, v) for n, v in self.embeddings if n != self.name]
        self.embeddings.append((self.name, np.asarray(vector, dtype=np.float32)))

    def tag_document(self, tags: list[str], doc_type: str | None) -> dict:
        self.tags = list(dict.fromkeys([*self.tags, *tags]))
        if doc_type:
            self.doc_type = doc_type
        return {"tags": list(self.tags), "doc_type": self.doc_type or ""}

    def page_image(self, number: int) -> Image.Image | None:
        return self.images.get(number)

    def save_artifact(self, filename: str, data: bytes, content_type: str) -> str:
        self.artifacts.append({"name": filename, "content_type": content_type, "data": data})
        return filename

    def send_email(self, **message: Any) -> dict:
        raise Unavailable("Sending email needs the worker's mail settings (workflows).")

    def append_table_row(self, table: str, values: dict) -> dict:
        raise Unavailable("Adding rows to a table needs the dashboard's database (workflows).")

    def begin_action(self, kind: str) -> Action:
        """A new key for each action: nothing in memory outlives the run to resume it."""
        return Action(uuid.uuid4().hex)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
