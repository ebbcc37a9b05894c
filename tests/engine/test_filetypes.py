from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from automations.engine.filetypes import (
    KINDS,
    MSG_DOCX_DAMAGED,
    MSG_IMAGE_DAMAGED,
    MSG_OLD_OFFICE,
    MSG_PDF_DAMAGED,
    MSG_PDF_PASSWORD,
    MSG_UNSUPPORTED,
    MSG_ZIP_NOT_DOCX,
    FileKind,
    FileRejected,
    Inspection,
    detect_kind,
    inspect_file,
    safe_filename,
)
from tests import files


def _image_bytes(fmt: str, frames: int = 1, size: tuple[int, int] = (120, 80)) -> bytes:
    images = [Image.new("RGB", size, (40 * i, 200, 90)) for i in range(frames)]
    buf = io.BytesIO()
    if frames > 1:
        images[0].save(buf, format=fmt, save_all=True, append_images=images[1:])
    else:
        images[0].save(buf, format=fmt)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _eml_bytes() -> bytes:
    return files.mail(
        "Please find the invoice.\n",
        sender="Ada <ada@example.com>",
        to="bob@example.com",
        subject="Invoice 4721",
        date=None,
    ).as_bytes()


# --------------------------------------------------------------------- detect_kind


@pytest.mark.parametrize(
    ("kind", "wrong_name"),
    [("png", "x.pdf"), ("jpeg", "x.png"), ("tiff", "x.jpg"), ("eml", "x.txt")],
)
def test_detects_generated_files_by_content_not_name(write_bytes, kind, wrong_name):
    data = {
        "png": lambda: _image_bytes("PNG"),
        "jpeg": lambda: _image_bytes("JPEG"),
        "tiff": lambda: _image_bytes("TIFF"),
        "eml": _eml_bytes,
    }[kind]()
    path = write_bytes(wrong_name, data)

    assert detect_kind(path) == KINDS[kind]


def test_detects_pdf_with_wrong_extension(make_text_pdf):
    path = make_text_pdf([["Hello"]], name="report.txt")

    assert detect_kind(path) == FileKind("pdf", "application/pdf", ".pdf")


def test_detects_docx_with_wrong_extension(make_docx):
    path = make_docx(name="letter.pdf")

    kind = detect_kind(path)

    assert kind.kind == "docx"
    assert kind.extension == ".docx"
    assert kind.mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_detects_utf8_text_with_wrong_extension(write_bytes):
    path = write_bytes("notes.png", "Café Ωmega\nline two\n".encode())

    assert detect_kind(path) == FileKind("txt", "text/plain", ".txt")


def test_detects_utf16_text_with_bom(write_bytes):
    path = write_bytes("notes.bin", "Total: 93.50 €\r\n".encode("utf-16"))

    assert detect_kind(path).kind == "txt"


def test_pdf_header_after_leading_junk_is_still_pdf(write_bytes):
    path = write_bytes("junk.bin", b"\r\n\r\nsome junk\n%PDF-1.4\n" + b"x" * 100)

    assert detect_kind(path).kind == "pdf"


def test_email_with_mbox_from_line_and_folded_header(write_bytes):
    data = (
        b"From ada@example.com Mon Jan  1 00:00:00 2024\n"
        b"Received: from mx.example.com\n"
        b"\tby mail.example.com; Mon, 1 Jan 2024 00:00:00 +0000\n"
        b"Subject: Hi\n"
        b"\n"
        b"Body\n"
    )

    assert detect_kind(write_bytes("m", data)).kind == "eml"


@pytest.mark.parametrize(
    "text",
    [
        "Note: buy milk\n\nand eggs\n",  # one header-like line is not an e-mail
        "X-Foo: 1\nX-Bar: 2\n\nbody\n",  # no standard e-mail header
        "Subject: hi\nFrom: a@b.c\nstill headers, no blank line",  # header block never ends
    ],
)
def test_text_that_merely_resembles_headers_is_txt(write_bytes, text):
    assert detect_kind(write_bytes("t.eml", text.encode())).kind == "txt"


def test_empty_file_is_rejected(write_bytes):
    path = write_bytes("empty.pdf", b"")

    with pytest.raises(FileRejected) as exc:
        detect_kind(path)
    assert str(exc.value) == "The file is empty."


def test_random_bytes_are_rejected_naming_accepted_types(write_bytes):
    data = random.Random(1234).randbytes(4096)
    path = write_bytes("data.pdf", data)

    with pytest.raises(FileRejected) as exc:
        detect_kind(path)
    assert str(exc.value) == MSG_UNSUPPORTED
    for accepted in ("PDF", "PNG", "JPEG", "TIFF", ".docx", ".txt", ".eml"):
        assert accepted in str(exc.value)


@pytest.mark.parametrize(
    "data",
    [
        b"abc\x00def\x00" * 20,  # NUL bytes: binary, not text
        "Caf\xe9 cr\xe8me".encode("latin-1"),  # not UTF-8
        bytes(range(1, 32)) * 10,  # control characters
    ],
)
def test_non_text_bytes_are_rejected(write_bytes, data):
    with pytest.raises(FileRejected) as exc:
        detect_kind(write_bytes("x.txt", data))
    assert str(exc.value) == MSG_UNSUPPORTED


def test_zip_that_is_not_docx_is_rejected(write_bytes):
    path = write_bytes("fake.docx", _zip({"readme.txt": b"hello", "data/x.csv": b"a,b"}))

    with pytest.raises(FileRejected) as exc:
        detect_kind(path)
    assert str(exc.value) == MSG_ZIP_NOT_DOCX


def test_broken_zip_is_rejected(write_bytes):
    data = _zip({"word/document.xml": b"<xml/>" * 100})
    path = write_bytes("broken.docx", data[:40])

    with pytest.raises(FileRejected) as exc:
        detect_kind(path)
    assert str(exc.value) == MSG_DOCX_DAMAGED


def test_old_word_doc_is_rejected_with_advice(write_bytes):
    path = write_bytes("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)

    with pytest.raises(FileRejected) as exc:
        detect_kind(path)
    assert str(exc.value) == MSG_OLD_OFFICE


# -------------------------------------------------------------------- inspect_file


def test_inspect_counts_pdf_pages(make_text_pdf):
    path = make_text_pdf([["one"], ["two"], ["three"]])

    assert inspect_file(path) == Inspection(kind=KINDS["pdf"], page_count=3)


def test_inspect_counts_tiff_frames(write_bytes):
    path = write_bytes("scan.pdf", _image_bytes("TIFF", frames=3))

    assert inspect_file(path) == Inspection(kind=KINDS["tiff"], page_count=3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_inspect_single_images(write_bytes, fmt):
    path = write_bytes("img", _image_bytes(fmt))

    assert inspect_file(path).page_count == 1


def test_inspect_docx_txt_eml_are_one_page(make_docx, write_bytes):
    assert inspect_file(make_docx()) == Inspection(KINDS["docx"], 1)
    assert inspect_file(write_bytes("a.txt", b"hello")) == Inspection(KINDS["txt"], 1)
    assert inspect_file(write_bytes("a.eml", _eml_bytes())) == Inspection(KINDS["eml"], 1)


def test_password_protected_pdf_is_rejected(make_text_pdf):
    path = make_text_pdf([["secret numbers"]], encrypt="secret")

    assert detect_kind(path).kind == "pdf"
    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == (
        "This PDF is password-protected. Remove the password and upload it again."
    )
    assert str(exc.value) == MSG_PDF_PASSWORD


@pytest.mark.parametrize("fraction", [0.2, 0.6, 0.95])
def test_truncated_pdf_is_rejected_as_damaged(make_text_pdf, write_bytes, fraction):
    data = make_text_pdf([["page one text"], ["page two text"]]).read_bytes()
    path = write_bytes("cut.pdf", data[: int(len(data) * fraction)])

    assert detect_kind(path).kind == "pdf"
    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == MSG_PDF_DAMAGED
    assert str(exc.value).startswith("This PDF is damaged or incomplete")


def test_pdf_cut_before_first_page_object_is_rejected(make_text_pdf, write_bytes):
    data = make_text_pdf([["page one text"]]).read_bytes()
    cut = data.index(b"/Type /Page")
    path = write_bytes("cut.pdf", data[:cut])

    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == MSG_PDF_DAMAGED


def test_pdf_whose_page_objects_are_missing_is_rejected(make_text_pdf, write_bytes):
    # pdfium rebuilds the xref and reports 2 pages, but the page objects are not
    # reachable: only loading each page finds that out.
    data = make_text_pdf([["one"], ["two"]]).read_bytes()
    start = data.index(b"/Kids [")
    end = data.index(b"]", start)
    path = write_bytes("nokids.pdf", data[:start] + b"/Kids []" + data[end + 1 :])

    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == MSG_PDF_DAMAGED


@pytest.mark.parametrize(("fmt", "keep"), [("PNG", 0.5), ("JPEG", 0.5), ("TIFF", 0.5)])
def test_truncated_image_is_rejected(write_bytes, fmt, keep):
    img = Image.effect_noise((300, 300), 60).convert("RGB")  # noise: no tiny compression
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    path = write_bytes("broken.img", data[: int(len(data) * keep)])

    assert detect_kind(path).kind == fmt.lower()
    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == MSG_IMAGE_DAMAGED


def test_damaged_docx_is_rejected(write_bytes):
    path = write_bytes("bad.docx", _zip({"word/document.xml": b"not xml at all"}))

    assert detect_kind(path).kind == "docx"
    with pytest.raises(FileRejected) as exc:
        inspect_file(path)
    assert str(exc.value) == MSG_DOCX_DAMAGED


def test_max_pages_exceeded_names_the_numbers(make_text_pdf):
    path = make_text_pdf([["1"], ["2"], ["3"]])

    with pytest.raises(FileRejected) as exc:
        inspect_file(path, max_pages=2)
    assert "3 pages" in str(exc.value)
    assert "limit is 2 pages" in str(exc.value)
    assert inspect_file(path, max_pages=3).page_count == 3


def test_max_pages_applies_to_tiff_frames(write_bytes):
    path = write_bytes("scan.tif", _image_bytes("TIFF", frames=3))

    with pytest.raises(FileRejected, match="has 3 pages, but the limit is 1 pages"):
        inspect_file(path, max_pages=1)


def test_unreadable_path_is_rejected(tmp_path: Path):
    with pytest.raises(FileRejected):
        detect_kind(tmp_path / "missing.pdf")


# ------------------------------------------------------------------- safe_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\evil.txt", "evil.txt"),
        ("C:\\Users\\ada\\Invoice 4721.pdf", "Invoice 4721.pdf"),
        ("", "document"),
        (".", "document"),
        ("..", "document"),
        ("...", "document"),
        ("/", "document"),
        ("folder/", "folder"),
        (".bashrc", "bashrc"),
        ("in\x00voi\x1bce\n.pdf", "invoice.pdf"),
        ("bill\u202efdp.exe", "billfdp.exe"),  # right-to-left override
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("report.  ", "report"),
        ("  spaced   name .pdf", "spaced name.pdf"),
        ("CON.txt", "_CON.txt"),
        ("Café Ωmega.docx", "Café Ωmega.docx"),
    ],
)
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_safe_filename_custom_default():
    assert safe_filename("../", default="attachment.bin") == "attachment.bin"


def test_safe_filename_limits_length_keeping_extension():
    result = safe_filename("a" * 400 + ".pdf")

    assert len(result) == 150
    assert result == "a" * 146 + ".pdf"


def test_safe_filename_long_name_without_extension():
    assert safe_filename("b" * 400) == "b" * 150


def test_safe_filename_never_returns_dots_or_empty():
    for raw in ["", ".", "..", " . ", "\x00", "\\", "./.", "../..", "\u200b"]:
        result = safe_filename(raw)
        assert result not in ("", ".", "..")
        assert "/" not in result
        assert "\\" not in result


def test_email_with_crlf_line_endings(write_bytes):
    data = b"Return-Path: <a@b.c>\r\nFrom: a@b.c\r\nSubject: Hi\r\n\r\nBody\r\n"

    assert detect_kind(write_bytes("mail", data)).kind == "eml"


def test_pdf_with_only_an_owner_password_is_accepted(tmp_path):
    # Permission restrictions (no copy/print) need no password to open: accept them.
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    path = tmp_path / "restricted.pdf"
    c = canvas.Canvas(
        str(path), encrypt=StandardEncryption("", ownerPassword="owner", canPrint=0, canCopy=0)
    )
    c.drawString(72, 720, "Restricted but readable")
    c.showPage()
    c.save()

    assert inspect_file(path) == Inspection(kind=KINDS["pdf"], page_count=1)
