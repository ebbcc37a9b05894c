"""Turn an inspected file into per-page text (text layer, OCR, DOCX, plain text, e-mail)."""

from __future__ import annotations

import contextlib
import email
import email.message
import math
import mimetypes
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from html.parser import HTMLParser

import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    MSG_DOCX_DAMAGED,
    MSG_IMAGE_DAMAGED,
    MSG_IMAGE_TOO_LARGE,
    MSG_PDF_DAMAGED,
    FileKind,
    FileRejected,
    InputLimits,
    check_email_message,
    check_zip,
    open_pdf,
    read_email,
    safe_filename,
    set_image_pixel_limit,
)
from catalog.runtime.ocr import OcrEngine, OcrLine, to_rgb

__all__ = [
    "EmailAttachment",
    "EmailContent",
    "ExtractionError",
    "PageResult",
    "html_to_text",
    "iter_pages",
    "parse_email",
]

DISPLAY_DPI = 110
DISPLAY_MAX_SIDE = 1600
# Upper bound for a page rendered for OCR (an A4 page at 300 dpi is ~8.7 MP); stops
# posters/odd page sizes from allocating gigabytes.
MAX_RENDER_PIXELS = 40_000_000


class ExtractionError(Exception):
    """Text could not be extracted; ``str(exc)`` is a message for a non-technical person."""


@dataclass
class PageResult:
    number: int  # 1-based
    text: str
    method: str  # "text_layer" | "ocr" | "docx" | "text" | "email"
    confidence: float | None  # OCR confidence 0..1, None when not OCR
    image: Image.Image | None = None  # display rendering, longest side <= 1600 px
    lines: list[OcrLine] = field(default_factory=list)  # boxes in `image` coordinates


@dataclass
class EmailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class EmailContent:
    subject: str
    sender: str
    to: str
    date: str | None
    body: str
    attachments: list[EmailAttachment]


# --------------------------------------------------------------------------- helpers


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _non_space_chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _display_image(image: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """RGB version of ``image`` at ``size`` (default: its own), longest side <= 1600 px."""
    rgb = to_rgb(image)
    width, height = size or rgb.size
    longest = max(width, height)
    if longest > DISPLAY_MAX_SIDE:
        factor = DISPLAY_MAX_SIDE / longest
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
    if (width, height) == rgb.size:
        return rgb
    return rgb.resize((width, height), Image.Resampling.LANCZOS)


def _scale_lines(
    lines: list[OcrLine], source: tuple[int, int], target: tuple[int, int]
) -> list[OcrLine]:
    """Map OCR boxes from an image of size ``source`` onto one of size ``target``."""
    if source == target:
        return list(lines)
    sx = target[0] / source[0]
    sy = target[1] / source[1]
    scaled = []
    for line in lines:
        x0, y0, x1, y1 = line.box
        box = (
            min(max(math.floor(x0 * sx), 0), target[0]),
            min(max(math.floor(y0 * sy), 0), target[1]),
            min(max(math.ceil(x1 * sx), 0), target[0]),
            min(max(math.ceil(y1 * sy), 0), target[1]),
        )
        scaled.append(OcrLine(text=line.text, confidence=line.confidence, box=box))
    return scaled


def _ocr_page(
    number: int,
    image: Image.Image,
    ocr: OcrEngine,
    display_size: tuple[int, int] | None = None,
) -> PageResult:
    rgb = to_rgb(image)
    result = ocr.recognize(rgb)
    display = _display_image(rgb, display_size)
    return PageResult(
        number=number,
        text=result.text,
        method="ocr",
        confidence=result.confidence,
        image=display,
        lines=_scale_lines(result.lines, rgb.size, display.size),
    )


# ------------------------------------------------------------------------------ PDF


def _render_scale(page: pdfium.PdfPage, dpi: float) -> float:
    width_pt, height_pt = page.get_size()
    scale = dpi / 72.0
    pixels = width_pt * scale * height_pt * scale
    if pixels > MAX_RENDER_PIXELS:
        scale *= math.sqrt(MAX_RENDER_PIXELS / pixels)
    return scale


def _render(page: pdfium.PdfPage, dpi: float) -> Image.Image:
    bitmap = page.render(scale=_render_scale(page, dpi))
    try:
        return bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()


def _display_size(page: pdfium.PdfPage) -> tuple[int, int]:
    """Pixel size of the page rendered at DISPLAY_DPI (pdfium rounds up)."""
    width_pt, height_pt = page.get_size()
    scale = _render_scale(page, DISPLAY_DPI)
    return max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))


def _pdf_page(
    doc: pdfium.PdfDocument,
    index: int,
    ocr: OcrEngine,
    ocr_dpi: int,
    min_text_chars: int,
) -> PageResult:
    number = index + 1
    try:
        page = doc[index]
    except pdfium.PdfiumError as exc:
        raise ExtractionError(
            f"Page {number} of this PDF is damaged and can't be read. "
            "Try saving or exporting the PDF again, then upload the new file."
        ) from exc
    try:
        textpage = page.get_textpage()
        try:
            layer_text = _normalize_newlines(textpage.get_text_bounded()).strip()
        finally:
            textpage.close()
        if _non_space_chars(layer_text) >= min_text_chars or (layer_text and not _has_images(page)):
            display = _display_image(_render(page, DISPLAY_DPI))
            return PageResult(
                number=number,
                text=layer_text,
                method="text_layer",
                confidence=None,
                image=display,
            )
        # The display image is the OCR render scaled down to the display resolution,
        # which is cheaper than rendering the page a second time.
        result = _ocr_page(number, _render(page, ocr_dpi), ocr, _display_size(page))
        if not result.text.strip() and layer_text:
            # OCR saw nothing but the page has a little real text: keep that.
            result.text, result.method, result.confidence = layer_text, "text_layer", None
        return result
    finally:
        page.close()


def _iter_pdf(
    path: str | os.PathLike[str], ocr: OcrEngine, start: int, ocr_dpi: int, min_text_chars: int
) -> Iterator[PageResult]:
    try:
        doc = open_pdf(path)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    try:
        # Forms init lets pdfium draw filled-in form fields that have no appearance
        # stream; without it such values would be invisible to OCR and to the user.
        with contextlib.suppress(Exception):  # rendering without forms is acceptable
            doc.init_forms()
        count = len(doc)
        if count <= 0:
            raise ExtractionError(MSG_PDF_DAMAGED)
        for index in range(start - 1, count):
            # Build the result (and close the page) before yielding, so a consumer that
            # stops early only leaves the document open, which the finally closes.
            yield _pdf_page(doc, index, ocr, ocr_dpi, min_text_chars)
    finally:
        doc.close()


def _has_images(page: pdfium.PdfPage) -> bool:
    """A page with a short text layer and no pictures is a short digital page: OCR would
    only read the same words again (a page with no text at all is still OCR'd, since its
    text may be drawn as outlines)."""
    images = page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE], max_depth=3)
    return next(images, None) is not None


# ---------------------------------------------------------------------------- images


def _iter_image(
    path: str | os.PathLike[str],
    ocr: OcrEngine,
    start: int,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[PageResult]:
    set_image_pixel_limit(limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ExtractionError(MSG_IMAGE_TOO_LARGE) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ExtractionError(MSG_IMAGE_DAMAGED) from exc
    try:
        frames = getattr(img, "n_frames", 1)
        for index in range(start - 1, frames):
            try:
                img.seek(index)
                with warnings.catch_warnings():
                    # The same pixel limit as the upload's inspection (a TIFF page
                    # past it was refused there); never decode more than that.
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    img.load()
                    # Phone photos are stored sideways with an EXIF rotation flag.
                    frame = ImageOps.exif_transpose(img.copy())
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ExtractionError(MSG_IMAGE_TOO_LARGE) from exc
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise ExtractionError(MSG_IMAGE_DAMAGED) from exc
            yield _ocr_page(index + 1, frame, ocr)
    finally:
        img.close()


# ------------------------------------------------------------------------------ DOCX


def _docx_text(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        # The same bounds as the upload's inspection, on what the members really unpack
        # to: python-docx reads every part whole and lxml builds every element.
        check_zip(path, limits)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    try:
        document = docx.Document(os.fspath(path))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ExtractionError(MSG_DOCX_DAMAGED) from exc

    def blocks(container) -> list[str]:  # Document or table cell, in document order
        out: list[str] = []
        for block in container.iter_inner_content():
            if isinstance(block, Paragraph):
                out.append(block.text)
            elif isinstance(block, Table):
                for row in block.rows:
                    cells: list[str] = []
                    seen: set[int] = set()
                    for cell in row.cells:
                        # A merged cell is returned once per grid column it spans.
                        if id(cell._tc) in seen:
                            continue
                        seen.add(id(cell._tc))
                        cells.append(" ".join(t.strip() for t in blocks(cell) if t.strip()))
                    out.append("\t".join(cells).rstrip("\t"))
        return out

    out = blocks(document)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ----------------------------------------------------------------------------- text


def _read_text(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    return _normalize_newlines(text)


# ---------------------------------------------------------------------------- e-mail


class _HtmlToText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
    # Block elements start on a new line; paragraph-like ones are set off by a blank line.
    # Breaks requested by nested/adjacent tags are merged, not added up.
    _LINE = frozenset(
        {
            "div", "tr", "li", "dt", "dd", "ul", "ol", "dl", "section", "article",
            "header", "footer", "address", "nav", "main", "aside", "figure", "form",
        }
    )  # fmt: skip
    _PARAGRAPH = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
    )
    _CELL = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._skip_depth = 0
        self._pre_depth = 0

    def _request(self, newlines: int) -> None:
        self._pending = max(self._pending, newlines)

    def _flush(self) -> None:
        if self._pending and self.parts:
            self.parts.append("\n" * self._pending)
        self._pending = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag == "br":
            self._flush()
            self.parts.append("\n")
        elif tag in self._PARAGRAPH:
            self._request(2)
            if tag == "pre":
                self._pre_depth += 1
        elif tag in self._LINE:
            self._request(1)
        elif tag in self._CELL:
            self._flush()
            self.parts.append("\t")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._SKIP:  # <script/> has no content to skip
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag in self._PARAGRAPH:
            self._request(2)
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)
        elif tag in self._LINE:
            self._request(1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = re.sub(r"\s+", " ", data)
            if not data.strip():
                if self.parts and not self._pending:
                    self.parts.append(" ")
                return
        self._flush()
        self.parts.append(data)

    def text(self) -> str:
        lines = []
        for line in "".join(self.parts).split("\n"):
            cells = [c.strip() for c in line.split("\t")]
            lines.append("\t".join(c for c in cells if c))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: drops scripts/styles/head, keeps block line breaks."""
    parser = _HtmlToText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _header(msg: email.message.Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # malformed header the modern parser chokes on: use the raw value
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    return re.sub(r"\s+", " ", str(value)).strip()


def _payload_bytes(part: email.message.Message) -> bytes:
    """The part's decoded bytes; b"" for an empty part or a multipart one."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _subparts(part: email.message.Message) -> list[email.message.Message]:
    if isinstance(part, email.message.MIMEPart):
        return list(part.iter_parts())
    payload = part.get_payload()
    return (
        [p for p in payload if isinstance(p, email.message.Message)]
        if isinstance(payload, list)
        else []
    )


def _part_text(part: email.message.MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        content = _payload_bytes(part).decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return _normalize_newlines(str(content))


def _email_body(msg: email.message.EmailMessage) -> tuple[str, email.message.MIMEPart | None]:
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        text = _part_text(plain).strip()
        if text:
            return text, plain
    html = msg.get_body(preferencelist=("html",))
    if html is not None:
        return html_to_text(_part_text(html)), html
    return "", plain


def _unique_name(name: str, used: set[str]) -> str:
    if name.lower() not in used:
        used.add(name.lower())
        return name
    stem, ext = os.path.splitext(name)
    n = 2
    while f"{stem} ({n}){ext}".lower() in used:
        n += 1
    unique = f"{stem} ({n}){ext}"
    used.add(unique.lower())
    return unique


def _collect_attachments(
    part: email.message.Message,
    body_part: email.message.Message | None,
    out: list[EmailAttachment],
    used: set[str],
) -> None:
    if part is body_part:
        return
    content_type = part.get_content_type()
    filename = part.get_filename()
    disposition = part.get_content_disposition()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        if isinstance(inner, email.message.Message):
            data = inner.as_bytes(policy=policy.default)
            subject = _header(inner, "subject") or "forwarded message"
        else:
            data = _payload_bytes(part)
            subject = "forwarded message"
        name = safe_filename(filename or subject, default="message")
        if not name.lower().endswith(".eml"):
            name = f"{name[:146]}.eml"
        out.append(EmailAttachment(_unique_name(name, used), "message/rfc822", data))
        return
    if part.is_multipart():
        for sub in _subparts(part):
            _collect_attachments(sub, body_part, out, used)
        return
    if not filename and disposition != "attachment":
        return  # body alternatives and unnamed inline parts
    if filename:
        name = safe_filename(filename, default="attachment")
    else:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment{ext}"
    data = _payload_bytes(part)
    out.append(EmailAttachment(_unique_name(name, used), content_type, data))


def parse_email(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> EmailContent:
    """Parse an .eml file: headers, readable body and every attachment with its bytes.

    The body is the text/plain part, else the HTML part converted to text. Attachments
    are parts with a file name or ``Content-Disposition: attachment`` (named inline
    images included); a forwarded message (message/rfc822) becomes one ``.eml``
    attachment. File names are passed through :func:`safe_filename` and de-duplicated.
    A mail beyond ``limits`` (attachments, nesting, unpacked bytes) raises
    :class:`ExtractionError` with the reason, as does one that cannot be parsed.
    """
    try:
        msg = read_email(path)
        check_email_message(msg, limits)
    except FileRejected as exc:
        raise ExtractionError(str(exc)) from exc
    body, body_part = _email_body(msg)
    attachments: list[EmailAttachment] = []
    _collect_attachments(msg, body_part, attachments, set())
    return EmailContent(
        subject=_header(msg, "subject") or "",
        sender=_header(msg, "from") or "",
        to=_header(msg, "to") or "",
        date=_header(msg, "date"),
        body=body,
        attachments=attachments,
    )


def _email_page_text(content: EmailContent) -> str:
    return (
        f"Subject: {content.subject}\nFrom: {content.sender}\nTo: {content.to}\n"
        f"Date: {content.date or ''}\n\n{content.body}"
    )


# ------------------------------------------------------------------------------ API


def iter_pages(
    path: str | os.PathLike[str],
    kind: FileKind,
    ocr: OcrEngine,
    *,
    start: int = 1,
    ocr_dpi: int = 300,
    min_text_chars: int = 20,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Iterator[PageResult]:
    """Yield the pages of an inspected file in order, beginning with page ``start`` (1-based).

    PDF pages use their text layer when it has at least ``min_text_chars`` non-space
    characters, otherwise they are rendered at ``ocr_dpi`` and OCRed. Image pages
    (every TIFF frame) are OCRed. DOCX, TXT and EML are a single page; e-mail
    attachments are not pages (see :func:`parse_email`). Raises
    :class:`ExtractionError` for encrypted or damaged files.
    """
    if start < 1:
        raise ValueError("start is 1-based and must be at least 1")
    if kind.kind == "pdf":
        yield from _iter_pdf(path, ocr, start, ocr_dpi, min_text_chars)
    elif kind.kind in ("png", "jpeg", "tiff"):
        yield from _iter_image(path, ocr, start, limits)
    elif start > 1:
        return
    elif kind.kind == "docx":
        yield PageResult(number=1, text=_docx_text(path, limits), method="docx", confidence=None)
    elif kind.kind == "txt":
        yield PageResult(number=1, text=_read_text(path), method="text", confidence=None)
    elif kind.kind == "eml":
        content = parse_email(path, limits)
        yield PageResult(number=1, text=_email_page_text(content), method="email", confidence=None)
    else:
        raise ExtractionError(f"Files of type {kind.kind!r} can't be read.")
