"""A stored document's file: storing a spooled upload by a link, a local path to read it by,
and deleting it with its rows."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator

from django.core.files.storage import FileSystemStorage
from django.db import transaction

from automations.models import Document
from pyq_site.uploads import CHUNK

log = logging.getLogger(__name__)


def _local_storage() -> FileSystemStorage | None:
    storage = Document._meta.get_field("file").storage
    return storage if isinstance(storage, FileSystemStorage) else None


def incoming_folder() -> str | None:
    """Where uploads are spooled: beside the stored files on local storage, so that the
    spooled file becomes the stored one by a link instead of a second copy."""
    storage = _local_storage()
    if storage is None:
        return None
    folder = os.path.join(storage.location, ".incoming")
    os.makedirs(folder, exist_ok=True)
    return folder


def link_into_storage(document: Document, spooled: str, name: str) -> bool:
    """On local storage, store the spooled file under the document's name by a hard link
    (the spool's own name goes when it closes): no second write of the content. False
    when that cannot be done here; the caller saves through the storage instead."""
    storage = _local_storage()
    if storage is None:
        return False
    target = document.file.field.generate_filename(document, name)
    path = storage.path(target)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _chmod_folders(storage, os.path.dirname(path))
        os.link(spooled, path)  # fails if the name is taken, or across filesystems
    except OSError:
        return False
    if storage.file_permissions_mode is not None:
        os.chmod(path, storage.file_permissions_mode)
    document.file.name = target
    return True


def _chmod_folders(storage: FileSystemStorage, folder: str) -> None:
    """Give the folders below the storage's root its directory mode (as its own saves do;
    without a umask change, which would be process-wide)."""
    mode = storage.directory_permissions_mode
    root = os.path.abspath(storage.location)
    folder = os.path.abspath(folder)
    while mode is not None and folder.startswith(root + os.sep):
        os.chmod(folder, mode)
        folder = os.path.dirname(folder)


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
