"""Hostile files the tests make themselves: compression bombs, crafted and broken files."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from email.message import EmailMessage

from PIL import Image

from tests import files

MB = 1024 * 1024
WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx_parts() -> dict[str, bytes]:
    source = zipfile.ZipFile(io.BytesIO(files.docx_file(["Hello"])))
    return {info.filename: source.read(info.filename) for info in source.infolist()}


def docx_with(
    replace: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None
) -> bytes:
    """A real Word document (python-docx's template) with parts replaced or added."""
    parts = {**_docx_parts(), **(replace or {}), **(extra or {})}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out.getvalue()


def docx_bomb(unpacked_mb: int = 100) -> bytes:
    """A valid DOCX whose word/document.xml is ``unpacked_mb`` MB of empty paragraphs
    (about 350 KB packed for 100 MB): python-docx would build 17 million elements."""
    out = io.BytesIO()
    chunk = b"<w:p/>" * (MB // 6)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in _docx_parts().items():
            if name != "word/document.xml":
                zf.writestr(name, data)
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(f'<?xml version="1.0"?><w:document xmlns:w="{WORD_NS}"><w:body>'.encode())
            for _ in range(unpacked_mb):
                member.write(chunk)
            member.write(b"</w:body></w:document>")
    return out.getvalue()


def docx_paragraphs(count: int) -> bytes:
    """A DOCX of ``count`` short paragraphs (3 elements each), packed like Word packs it."""
    body = "".join(f"<w:p><w:r><w:t>Line {n}</w:t></w:r></w:p>" for n in range(count))
    xml = (
        f'<?xml version="1.0"?><w:document xmlns:w="{WORD_NS}"><w:body>{body}</w:body></w:document>'
    )
    return docx_with({"word/document.xml": xml.encode()})


def docx_many_parts(count: int) -> bytes:
    return docx_with(extra={f"customXml/item{n}.xml": b"<a/>" for n in range(count)})


def docx_packed_part(unpacked_mb: int) -> bytes:
    """A DOCX with a picture part of zeros: ``unpacked_mb`` MB packed about 1000 to 1."""
    return docx_with(extra={"word/media/image1.png": bytes(unpacked_mb * MB)})


def docx_lying_directory() -> bytes:
    """A DOCX whose central directory says word/document.xml is 100 bytes; it is 2 MB."""
    xml = f'<?xml version="1.0"?><w:document xmlns:w="{WORD_NS}"><w:body>'.encode()
    xml += b"<w:p/>" * (2 * MB // 6) + b"</w:body></w:document>"
    data = bytearray(docx_with({"word/document.xml": xml}))
    _patch_central_entry(data, b"word/document.xml", size_offset=24, value=100)
    return bytes(data)


def docx_unknown_compression() -> bytes:
    """A DOCX whose document part uses compression method 99 (zipfile raises
    NotImplementedError when the part is opened)."""
    data = bytearray(docx_with())
    _patch_central_entry(data, b"word/document.xml", size_offset=10, value=99, width=2)
    position = 0
    while (position := data.find(b"PK\x03\x04", position)) != -1:
        name_length = struct.unpack_from("<H", data, position + 26)[0]
        if data[position + 30 : position + 30 + name_length] == b"word/document.xml":
            struct.pack_into("<H", data, position + 8, 99)
        position += 4
    return bytes(data)


def _patch_central_entry(
    data: bytearray, name: str | bytes, *, size_offset: int, value: int, width: int = 4
) -> None:
    """Overwrite a field of a central directory entry (offsets from its signature)."""
    name = name.encode() if isinstance(name, str) else name
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            struct.pack_into("<I" if width == 4 else "<H", data, position + size_offset, value)
            return
        position += 4
    raise AssertionError(f"{name!r} is not in the archive")


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("notes.txt", "not a Word document")
    return out.getvalue()


def docx_not_xml() -> bytes:
    return docx_with({"word/document.xml": b"this is not XML <<<"})


def old_word_document() -> bytes:
    """The start of an OLE2 compound file, as Word 97-2003 .doc files begin."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"Microsoft Word" * 50


# ------------------------------------------------------------------------------- mail


def _message(subject: str, body: str = "See attached.") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Supplier <billing@supplier.example>"
    message["To"] = "inbox@acme.example"
    message["Subject"] = subject
    message["Date"] = "Thu, 26 Nov 2026 09:00:00 +0000"
    message.set_content(body)
    return message


def mail_many_attachments(count: int = 200) -> bytes:
    message = _message("Many files")
    for n in range(count):
        message.add_attachment(
            f"note {n}".encode(), maintype="text", subtype="plain", filename=f"note{n}.txt"
        )
    return message.as_bytes()


def mail_nested(levels: int = 30, attachment: bytes = b"inner note") -> bytes:
    """A message forwarded inside a message ``levels`` times (the innermost has a file)."""
    inner = _message("Level 0", "The original.")
    inner.add_attachment(attachment, maintype="text", subtype="plain", filename="note.txt")
    for level in range(1, levels + 1):
        outer = _message(f"Level {level}", "Forwarded.")
        outer.add_attachment(inner)
        inner = outer
    return inner.as_bytes()


def mail_large_attachments(count: int, size: int) -> bytes:
    message = _message("Big files")
    for n in range(count):
        message.add_attachment(
            bytes([n % 256]) * size, maintype="application", subtype="pdf", filename=f"f{n}.pdf"
        )
    return message.as_bytes()


def mail_deep_multipart(levels: int = 2000) -> bytes:
    """A mail of multiparts inside multiparts; Python's mail parser recurses per level."""
    head = b"From: a@supplier.example\r\nTo: inbox@acme.example\r\nSubject: deep\r\n"
    head += b"MIME-Version: 1.0\r\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhello" + closing


# -------------------------------------------------------------------------------- PDF


def pdf_with_content(content: bytes, *, compress: bool = True, pages: int = 1) -> bytes:
    """A minimal PDF whose pages share one content stream (Flate-compressed)."""
    stream = zlib.compress(content, 9) if compress else content
    kids = " ".join(f"{4 + n} 0 R" for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d%s >>\nstream\n" % (len(stream), b" /Filter /FlateDecode" * compress)
        + stream
        + b"\nendstream",
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>"] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf_bomb(unpacked_mb: int = 60) -> bytes:
    """One page whose content stream unpacks to ``unpacked_mb`` MB (60 KB packed)."""
    return pdf_with_content(b"q Q\n" * (unpacked_mb * MB // 4))


def pdf_missing_page() -> bytes:
    """A PDF whose page tree points at a page object that is not there."""
    good = pdf_with_content(b"BT ET", compress=False)
    return good.replace(b"/Kids [4 0 R]", b"/Kids [9 0 R]")


# ----------------------------------------------------------------------------- images


def _image(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, fmt)
    return out.getvalue()


def png_huge_dimensions(width: int = 30000, height: int = 30000) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels (900 MP)."""
    data = bytearray(_image("PNG"))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def png_bad_checksum() -> bytes:
    data = bytearray(_image("PNG"))
    data[29] ^= 0xFF  # the header chunk's CRC
    return bytes(data)


def truncated(fmt: str) -> bytes:
    data = files.text_image(["TOTAL 12.50"], fmt=fmt)
    return data[: len(data) // 2]


def tiff_type_error() -> bytes:
    """A TIFF whose first directory's tag count is damaged: Pillow 13 raises TypeError
    ("Missing dimensions") while counting its frames, not OSError."""
    data = bytearray(_image("TIFF"))
    data[132] = 130
    return bytes(data)
