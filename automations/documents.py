"""A stored document's file: a local path to read it by, and deleting it with its rows."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator

from django.db import transaction

from automations.models import Document
from pyq_site.uploads import CHUNK

log = logging.getLogger(__name__)


def delete_document(document: Document) -> None:
    """Delete a document, its attachments, pages and runs, and their files in storage."""
    files = [document.file]
    for child in document.attachments.all():
        files.append(child.file)
        files.extend(page.image for page in child.pages.all() if page.image)
    files.extend(page.image for page in document.pages.all() if page.image)
    names = [(f.storage, f.name) for f in files if f and f.name]
    with transaction.atomic():
        document.delete()
    for storage, name in names:
        try:
            storage.delete(name)
        except OSError:
            log.warning("could not delete %s from storage", name)


def discard_files(documents: list[Document]) -> None:
    """Delete the stored files of documents whose rows were never saved."""
    for document in documents:
        try:
            document.file.delete(save=False)
        except Exception:  # already gone, or storage down: log, the caller's error matters
            log.warning("could not delete %s from storage", document.file.name, exc_info=True)


@contextlib.contextmanager
def local_path(document: Document) -> Iterator[str]:
    """A path to the stored file on this machine: the file itself on local storage, else a
    temporary copy (S3 and other remote storages) removed afterwards."""
    try:
        path = document.file.path  # FileSystemStorage only; others raise
    except NotImplementedError:
        path = None
    if path is not None and os.path.exists(path):
        yield path
        return
    with local_copy(document) as tmp:
        yield tmp.name


def local_copy(document: Document) -> tempfile._TemporaryFileWrapper:
    """A local temporary copy of the stored file (storage may be S3 on another machine)."""
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix="pyq-doc-", suffix=document.extension, delete=True
    )
    with document.file.open("rb") as src:
        while chunk := src.read(CHUNK):
            tmp.write(chunk)
    tmp.flush()
    return tmp
