"""The bad-input corpus, files: every hostile or broken file is refused with its message,
through the upload page and through the API, and leaves no row and no file behind."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import reverse

from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    MSG_DOCX_DAMAGED,
    MSG_EMAIL_DAMAGED,
    MSG_EMPTY,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_LARGE,
    MSG_OLD_OFFICE,
    MSG_PDF_DAMAGED,
    MSG_PDF_PASSWORD,
    MSG_UNSUPPORTED,
    MSG_ZIP_NOT_DOCX,
)
from automations.models import Document, Run
from tests import bombs, files
from tests.automations.helpers import stored_files, upload

PAGE = reverse("automations:documents")
API = "/api/v1/documents"
MB = 1024 * 1024


def too_large_docx(detail: str) -> str:
    return (
        f"This Word document is too large when unpacked ({detail}). "
        "Split it into smaller documents or export it to PDF, then upload it again."
    )


@dataclass(frozen=True)
class Bad:
    id: str
    name: str
    build: Callable[[], bytes]
    message: str
    settings: dict = field(default_factory=dict)
    api_status: int = 400

    def data(self) -> bytes:
        return _built(self.id)


CORPUS = [
    Bad("empty", "empty.pdf", lambda: b"", MSG_EMPTY),
    Bad("program", "program.pdf", lambda: b"MZ\x90\x00" + bytes(range(256)) * 8, MSG_UNSUPPORTED),
    Bad("gif", "animation.gif", lambda: b"GIF89a" + bytes(range(256)) * 4, MSG_UNSUPPORTED),
    Bad("old-word", "letter.doc", bombs.old_word_document, MSG_OLD_OFFICE),
    Bad("zip", "invoices.zip", bombs.zip_archive, MSG_ZIP_NOT_DOCX),
    Bad(
        "pdf-encrypted", "locked.pdf", lambda: files.text_pdf(["x"], encrypt="pw"), MSG_PDF_PASSWORD
    ),
    Bad(
        "pdf-truncated",
        "cut.pdf",
        lambda: files.text_pdf(["Invoice 42"] * 3)[:300],
        MSG_PDF_DAMAGED,
    ),
    Bad("pdf-missing-page", "hollow.pdf", bombs.pdf_missing_page, MSG_PDF_DAMAGED),
    Bad(
        "pdf-flate-bomb",
        "bomb.pdf",
        lambda: bombs.pdf_bomb(60),
        "This PDF is too large when unpacked (a page or part of it unpacks to more than 50 MB). "
        "Print it to a new PDF or split it, then upload it again.",
    ),
    Bad(
        "pdf-too-many-pages",
        "long.pdf",
        lambda: files.text_pdf(["one", "two", "three"]),
        "This document has 3 pages, but the limit is 2 pages. "
        "Split it into smaller files and upload them separately.",
        settings={"PYQ_MAX_PAGES": 2},
    ),
    Bad(
        "over-size",
        "big.txt",
        lambda: b"word " * (MB // 5 + 10),
        "The file is larger than the 1 MB limit.",
        settings={"PYQ_MAX_UPLOAD_MB": 1},
        api_status=413,
    ),
    Bad("png-truncated", "cut.png", lambda: bombs.truncated("PNG"), MSG_IMAGE_DAMAGED),
    Bad("png-bad-checksum", "crc.png", bombs.png_bad_checksum, MSG_IMAGE_DAMAGED),
    Bad("png-900-megapixels", "huge.png", bombs.png_huge_dimensions, MSG_IMAGE_TOO_LARGE),
    Bad("jpeg-truncated", "cut.jpg", lambda: bombs.truncated("JPEG"), MSG_IMAGE_DAMAGED),
    Bad("tiff-truncated", "cut.tiff", lambda: bombs.truncated("TIFF"), MSG_IMAGE_DAMAGED),
    Bad("tiff-pillow-type-error", "crafted.tiff", bombs.tiff_type_error, MSG_IMAGE_DAMAGED),
    Bad("docx-not-xml", "broken.docx", bombs.docx_not_xml, MSG_DOCX_DAMAGED),
    Bad("docx-unknown-compression", "odd.docx", bombs.docx_unknown_compression, MSG_DOCX_DAMAGED),
    Bad("docx-lying-directory", "lying.docx", bombs.docx_lying_directory, MSG_DOCX_DAMAGED),
    Bad("docx-bomb", "bomb.docx", lambda: bombs.docx_bomb(100), too_large_docx("over 50 MB")),
    Bad(
        "docx-1001-parts",
        "parts.docx",
        lambda: bombs.docx_many_parts(1001),
        too_large_docx("more than 1000 parts"),
    ),
    Bad(
        "docx-packed-part",
        "packed.docx",
        lambda: bombs.docx_packed_part(20),
        too_large_docx("packed more than 100 to 1"),
    ),
    Bad(
        "docx-too-many-elements",
        "long.docx",
        lambda: bombs.docx_paragraphs(2000),
        too_large_docx("more than 1,000 elements"),
        settings={"PYQ_MAX_XML_ELEMENTS": 1000},
    ),
    Bad(
        "mail-200-attachments",
        "many.eml",
        lambda: bombs.mail_many_attachments(200),
        "This e-mail has more than 50 attachments (forwarded messages and their attachments "
        "count too). Send them in several e-mails.",
    ),
    Bad(
        "mail-30-levels",
        "nested.eml",
        lambda: bombs.mail_nested(30),
        "This e-mail holds messages forwarded inside each other more than 3 levels deep. "
        "Save the innermost message and upload it instead.",
    ),
    Bad(
        "mail-4-levels",
        "forwarded.eml",
        lambda: bombs.mail_nested(4),
        "This e-mail holds messages forwarded inside each other more than 3 levels deep. "
        "Save the innermost message and upload it instead.",
    ),
    Bad(
        "mail-unpacks-too-much",
        "big.eml",
        lambda: bombs.mail_large_attachments(3, 400_000),
        "This e-mail's attachments add up to more than 1 MB when unpacked. "
        "Send them in several e-mails.",
        settings={"PYQ_MAX_MAIL_UNPACKED_MB": 1},
    ),
    Bad("mail-deep-multipart", "deep.eml", bombs.mail_deep_multipart, MSG_EMAIL_DAMAGED),
]
BY_ID = {case.id: case for case in CORPUS}
assert len(BY_ID) == len(CORPUS) >= 25
assert DEFAULT_LIMITS.unpacked_bytes == 50 * MB  # the messages above name the defaults


@functools.cache
def _built(case_id: str) -> bytes:
    return BY_ID[case_id].build()


@pytest.fixture(params=CORPUS, ids=[case.id for case in CORPUS])
def bad(request, settings) -> Bad:
    for name, value in request.param.settings.items():
        setattr(settings, name, value)
    return request.param


def assert_nothing_stored() -> None:
    assert Document.objects.count() == 0
    assert Run.objects.count() == 0
    assert stored_files() == []  # no stored file, no spooled copy left in .incoming


def test_the_upload_page_refuses_it_with_its_message_and_keeps_nothing(member, bad):
    response = member.client.post(PAGE, {"files": [upload(bad.name, bad.data())]})
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [f"{bad.name}: {bad.message}"]
    assert_nothing_stored()


def test_the_api_refuses_it_with_its_message_and_keeps_nothing(api, bad):
    response = api.post(API, {"file": upload(bad.name, bad.data())})
    assert response.status_code == bad.api_status
    body = response.json()
    assert body["error"]["code"] == ("too_large" if bad.api_status == 413 else "rejected")
    assert body["rejected"] == [{"name": bad.name, "error": bad.message}]
    assert_nothing_stored()


def test_one_good_file_among_all_the_bad_ones_is_the_only_one_kept(member, settings):
    corpus = [case for case in CORPUS if not case.settings]
    uploads = [upload(f"{n:02}-{case.name}", case.data()) for n, case in enumerate(corpus)]
    response = member.client.post(PAGE, {"files": [upload("good.txt", b"hello"), *uploads]})
    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [
        f"{n:02}-{case.name}: {case.message}" for n, case in enumerate(corpus)
    ]
    (document,) = Document.objects.all()
    assert document.original_name == "good.txt"
    assert Run.objects.get().document == document
    assert len(stored_files()) == 1
