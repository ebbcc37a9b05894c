from __future__ import annotations

import io
from email.message import EmailMessage

import pypdfium2 as pdfium
import pytest
from PIL import Image

from automations.engine.extract import (
    EmailAttachment,
    ExtractionError,
    PageResult,
    html_to_text,
    iter_pages,
    parse_email,
)
from automations.engine.filetypes import (
    KINDS,
    MSG_IMAGE_DAMAGED,
    MSG_PDF_DAMAGED,
    MSG_PDF_PASSWORD,
    detect_kind,
)
from catalog.runtime.ocr import OcrLine, OcrResult
from tests import files


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _pages(path, ocr, **kwargs) -> list[PageResult]:
    return list(iter_pages(path, detect_kind(path), ocr, **kwargs))


# ----------------------------------------------------------------------------- PDF


def test_pdf_text_layer_pages_in_order(make_text_pdf, rapid):
    path = make_text_pdf(
        [
            ["Invoice number 4721 from ACME Corp", "Total due: 93.50 EUR"],
            ["Page two: payment terms are 30 days"],
        ]
    )

    pages = _pages(path, rapid)

    assert [p.number for p in pages] == [1, 2]
    assert [p.method for p in pages] == ["text_layer", "text_layer"]
    assert pages[0].text == "Invoice number 4721 from ACME Corp\nTotal due: 93.50 EUR"
    assert pages[1].text == "Page two: payment terms are 30 days"
    for page in pages:
        assert page.confidence is None
        assert page.lines == []
        assert page.image is not None
        assert page.image.mode == "RGB"
        # A4 (595.28 x 841.89 pt) rendered at 110 dpi; pdfium rounds up.
        assert page.image.size == (910, 1287)


def test_pdf_resume_from_start_page(make_text_pdf, rapid):
    path = make_text_pdf([["First page has enough text here"], ["Second page has enough text"]])

    pages = _pages(path, rapid, start=2)

    assert [(p.number, p.text) for p in pages] == [(2, "Second page has enough text")]


def test_pdf_start_past_the_end_yields_nothing(make_text_pdf, rapid):
    path = make_text_pdf([["Only page with plenty of text"]])

    assert _pages(path, rapid, start=5) == []


def test_scanned_pdf_is_ocred_with_boxes_on_the_page_image(make_scanned_pdf, text_image, rapid):
    path = make_scanned_pdf([text_image(["INVOICE 4721", "TOTAL 93.50"])])

    (page,) = _pages(path, rapid)

    assert page.number == 1
    assert page.method == "ocr"
    assert page.text == "INVOICE 4721\nTOTAL 93.50"
    assert page.confidence is not None
    assert 0.5 < page.confidence <= 1.0
    # 420 x 200 pt page, display rendering derived from the 300 dpi OCR render.
    assert page.image is not None
    assert page.image.size == (642, 306)
    assert [line.text for line in page.lines] == ["INVOICE 4721", "TOTAL 93.50"]
    for line in page.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= page.image.width
        assert 0 <= y0 < y1 <= page.image.height
    # The picture (1400 x 400 px) fills x = 10..410 pt, i.e. 15..627 px at 110 dpi, and
    # its text starts 60 px (= 17 pt = 26 display px) from the picture's left edge.
    first = page.lines[0].box
    assert 30 <= first[0] <= 50
    assert first[2] < 627


class _FixedOcr:
    """Stands in for an engine: one known line, boxes in the pixels it was given."""

    name = "fixed"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def recognize(self, image: Image.Image) -> OcrResult:
        self.sizes.append(image.size)
        line = OcrLine(text="Hi there", confidence=0.8, box=(100, 200, 300, 400))
        return OcrResult.from_lines([line])


def test_short_text_layer_falls_back_to_ocr_and_boxes_are_scaled(make_text_pdf):
    path = make_text_pdf([["Hi"]], picture=True)  # 2 non-space characters < min_text_chars
    engine = _FixedOcr()

    (page,) = _pages(path, engine, ocr_dpi=144)

    assert engine.sizes == [(1191, 1684)]  # A4 at 144 dpi
    assert (page.method, page.text, page.confidence) == ("ocr", "Hi there", 0.8)
    assert page.image is not None
    assert page.image.size == (910, 1287)  # display stays at 110 dpi
    # (100, 200, 300, 400) at 144 dpi -> x * 910/1191, y * 1287/1684, rounded outwards.
    assert page.lines == [OcrLine("Hi there", 0.8, (76, 152, 230, 306))]


def test_min_text_chars_threshold_is_respected(make_text_pdf, rapid, monkeypatch):
    path = make_text_pdf([["12345"]], picture=True)
    calls = []
    monkeypatch.setattr(rapid, "recognize", lambda image: calls.append(image) or _empty())

    (page,) = _pages(path, rapid, min_text_chars=5)
    assert (page.method, page.text, calls) == ("text_layer", "12345", [])

    (page,) = _pages(path, rapid, min_text_chars=6, ocr_dpi=100)
    assert len(calls) == 1
    assert calls[0].size == (827, 1170)  # A4 at 100 dpi, rounded up
    assert (page.method, page.text) == ("text_layer", "12345")  # OCR found nothing


def test_short_text_layer_without_pictures_is_not_ocrd(make_text_pdf, rapid, monkeypatch):
    path = make_text_pdf([["Total 9.50"]])
    calls = []
    monkeypatch.setattr(rapid, "recognize", lambda image: calls.append(image) or _empty())
    (page,) = _pages(path, rapid)
    assert (page.method, page.text, calls) == ("text_layer", "Total 9.50", [])


def _empty() -> OcrResult:
    return OcrResult(text="", confidence=None, lines=[])


def test_encrypted_pdf_raises_extraction_error(make_text_pdf, rapid):
    path = make_text_pdf([["secret"]], encrypt="secret")

    with pytest.raises(ExtractionError) as exc:
        _pages(path, rapid)
    assert str(exc.value) == MSG_PDF_PASSWORD


def test_truncated_pdf_raises_extraction_error(make_text_pdf, write_bytes, rapid):
    data = make_text_pdf([["some text on page one"]]).read_bytes()
    path = write_bytes("cut.pdf", data[: len(data) * 6 // 10])

    with pytest.raises(ExtractionError) as exc:
        list(iter_pages(path, KINDS["pdf"], rapid))
    assert str(exc.value) == MSG_PDF_DAMAGED


def test_pdf_with_unloadable_page_raises_extraction_error(make_text_pdf, write_bytes, rapid):
    data = make_text_pdf([["one"], ["two"]]).read_bytes()
    start = data.index(b"/Kids [")
    end = data.index(b"]", start)
    path = write_bytes("nokids.pdf", data[:start] + b"/Kids []" + data[end + 1 :])

    with pytest.raises(ExtractionError, match=r"^Page 1 of this PDF is damaged"):
        list(iter_pages(path, KINDS["pdf"], rapid))


def test_truncated_image_raises_extraction_error(write_bytes, rapid):
    buf = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(buf, format="JPEG")
    path = write_bytes("cut.jpg", buf.getvalue()[:3000])

    with pytest.raises(ExtractionError) as exc:
        list(iter_pages(path, KINDS["jpeg"], rapid))
    assert str(exc.value) == MSG_IMAGE_DAMAGED


def test_pdf_document_closed_when_generator_closed_early(make_text_pdf, rapid, monkeypatch):
    path = make_text_pdf([["Page one has plenty of text"], ["Page two has plenty of text"]])
    closed = []
    original = pdfium.PdfDocument.close

    def tracking_close(self):
        closed.append(self)
        return original(self)

    monkeypatch.setattr(pdfium.PdfDocument, "close", tracking_close)

    gen = iter_pages(path, KINDS["pdf"], rapid)
    first = next(gen)
    assert first.number == 1
    assert closed == []
    gen.close()

    assert len(closed) == 1


def test_start_must_be_one_based(make_text_pdf, rapid):
    path = make_text_pdf([["text"]])

    with pytest.raises(ValueError, match="1-based"):
        list(iter_pages(path, KINDS["pdf"], rapid, start=0))


# -------------------------------------------------------------------------- images


def test_png_page_is_ocred(write_bytes, text_image, rapid):
    path = write_bytes("receipt.pdf", _png(text_image(["TOTAL 93.50"], size=(800, 200))))

    (page,) = _pages(path, rapid)

    assert (page.number, page.method, page.text) == (1, "ocr", "TOTAL 93.50")
    assert page.image is not None
    assert page.image.size == (800, 200)
    assert page.lines[0].text == "TOTAL 93.50"


def test_large_image_display_is_scaled_and_boxes_follow(write_bytes, text_image, rapid):
    image = text_image(["INVOICE 4721"], size=(3200, 400), font_size=120, origin=(200, 120))
    path = write_bytes("big.png", _png(image))

    (page,) = _pages(path, rapid)

    assert page.image is not None
    assert page.image.size == (1600, 200)
    assert page.text == "INVOICE 4721"
    x0, y0, x1, y1 = page.lines[0].box
    # Text drawn at (200, 120) in the original is at (100, 60) in the half-size display.
    assert 90 <= x0 <= 110
    assert 50 <= y0 <= 80
    assert x1 <= 1600
    assert y1 <= 200


def test_multi_frame_tiff_yields_one_page_per_frame(write_bytes, text_image, rapid):
    frames = [
        text_image(["INVOICE 4721"], size=(800, 200)),
        text_image(["TOTAL 93.50"], size=(800, 200)),
    ]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    path = write_bytes("scan.tif", buf.getvalue())

    pages = _pages(path, rapid)

    assert [(p.number, p.method, p.text) for p in pages] == [
        (1, "ocr", "INVOICE 4721"),
        (2, "ocr", "TOTAL 93.50"),
    ]
    resumed = _pages(path, rapid, start=2)
    assert [(p.number, p.text) for p in resumed] == [(2, "TOTAL 93.50")]


def test_exif_rotated_photo_is_turned_upright(write_bytes, text_image, rapid):
    upright = text_image(["TOTAL 93.50"], size=(800, 200))
    stored = upright.rotate(90, expand=True)  # as a phone stores a sideways shot
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    path = write_bytes("photo.jpg", buf.getvalue())

    (page,) = _pages(path, rapid)

    assert page.image is not None
    assert page.image.size == (800, 200)
    assert page.text == "TOTAL 93.50"


# ----------------------------------------------------------------------- DOCX/TXT


def test_docx_paragraphs_and_table_cells_in_document_order(make_docx, rapid):
    pages = _pages(make_docx(), rapid)

    assert pages == [
        PageResult(
            number=1,
            text="Purchase order 7781\nItem\tQty\nWidget\t12\nThank you",
            method="docx",
            confidence=None,
            image=None,
            lines=[],
        )
    ]


def test_txt_utf8_with_non_ascii(write_bytes, rapid):
    path = write_bytes("notes.txt", "Café Ωmega\r\nsecond line\n".encode())

    pages = _pages(path, rapid)

    assert [(p.number, p.method, p.text, p.confidence) for p in pages] == [
        (1, "text", "Café Ωmega\nsecond line\n", None)
    ]


def test_txt_utf16_with_bom(write_bytes, rapid):
    path = write_bytes("notes.txt", "Ωmega 93.50".encode("utf-16"))

    (page,) = _pages(path, rapid)

    assert page.text == "Ωmega 93.50"


def test_single_page_kinds_have_nothing_after_page_one(make_docx, rapid):
    assert list(iter_pages(make_docx(), KINDS["docx"], rapid, start=2)) == []


# -------------------------------------------------------------------------- e-mail


def _mail_with_attachments(text_image) -> tuple[EmailMessage, bytes, bytes]:
    png = _png(text_image(["TOTAL 93.50"], size=(400, 100), font_size=30))
    pdf = b"%PDF-1.4\n% fake but bytes are what matter\n%%EOF\n"
    msg = files.mail(
        "Hello,\nthe invoice is attached.\n",
        [("../../scan.png", "image/png", png), ("invoice 4721.pdf", "application/pdf", pdf)],
        sender="Ada Lovelace <ada@example.com>",
        to="billing@example.com",
        subject="Invoice 4721",
        date="Mon, 05 Feb 2024 10:30:00 +0000",
    )
    return msg, png, pdf


def test_parse_email_text_body_and_attachments(make_eml, text_image):
    msg, png, pdf = _mail_with_attachments(text_image)
    path = make_eml(msg)

    content = parse_email(path)

    assert content.subject == "Invoice 4721"
    assert content.sender == "Ada Lovelace <ada@example.com>"
    assert content.to == "billing@example.com"
    assert content.date == "Mon, 05 Feb 2024 10:30:00 +0000"
    assert content.body == "Hello,\nthe invoice is attached."
    assert content.attachments == [
        EmailAttachment(filename="scan.png", content_type="image/png", data=png),
        EmailAttachment(filename="invoice 4721.pdf", content_type="application/pdf", data=pdf),
    ]


def test_email_page_text_and_attachments_are_not_pages(make_eml, text_image, rapid):
    msg, _, _ = _mail_with_attachments(text_image)
    path = make_eml(msg, name="mail.txt")

    pages = _pages(path, rapid)

    assert len(pages) == 1
    assert pages[0].method == "email"
    assert pages[0].confidence is None
    assert pages[0].image is None
    assert pages[0].text == (
        "Subject: Invoice 4721\n"
        "From: Ada Lovelace <ada@example.com>\n"
        "To: billing@example.com\n"
        "Date: Mon, 05 Feb 2024 10:30:00 +0000\n"
        "\n"
        "Hello,\nthe invoice is attached."
    )


HTML_BODY = """<html><head><title>Ignored title</title>
<style>p { color: red; }</style><script>alert('x')</script></head>
<body><p>Dear customer,</p><div>Your order&nbsp;<b>4721</b> has shipped.<br>Thanks!</div>
<table><tr><th>Item</th><th>Price</th></tr><tr><td>Widget</td><td>&euro;93.50</td></tr></table>
</body></html>"""


def test_html_only_email_body_is_converted_to_text(make_eml):
    msg = EmailMessage()
    msg["Subject"] = "Shipped"
    msg["From"] = "shop@example.com"
    msg["To"] = "ada@example.com"
    msg.set_content(HTML_BODY, subtype="html")

    content = parse_email(make_eml(msg))

    assert content.body == (
        "Dear customer,\n\nYour order 4721 has shipped.\nThanks!\n\nItem\tPrice\nWidget\t€93.50"
    )
    assert content.date is None
    assert content.attachments == []


def test_plain_part_preferred_over_html_alternative(make_eml):
    msg = EmailMessage()
    msg["Subject"] = "Both"
    msg["From"] = "a@example.com"
    msg.set_content("plain version\n")
    msg.add_alternative("<p>html version</p>", subtype="html")

    assert parse_email(make_eml(msg)).body == "plain version"


def test_html_to_text_handles_entities_and_whitespace():
    assert html_to_text("<p>a&amp;b   c\n d</p><p>e<br/>f</p>") == "a&b c d\n\ne\nf"


def test_nested_message_becomes_eml_attachment(make_eml):
    inner = files.mail(
        "Receipt total 12.00\n",
        [("r.pdf", "application/pdf", b"inner-bytes")],
        sender="vendor@example.com",
        to=None,
        subject="Original: receipt",
        date=None,
    )
    outer = files.mail(
        "See forwarded.\n",
        [inner],
        sender="ada@example.com",
        to=None,
        subject="Fwd: receipt",
        date=None,
    )

    content = parse_email(make_eml(outer))

    assert content.body == "See forwarded."
    assert [(a.filename, a.content_type) for a in content.attachments] == [
        ("Original_ receipt.eml", "message/rfc822")
    ]
    assert b"Receipt total 12.00" in content.attachments[0].data
    assert b"inner-bytes" not in content.attachments[0].data  # still base64-encoded
    assert detect_kind_from_bytes(content.attachments[0].data) == "eml"


def detect_kind_from_bytes(data: bytes) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x"
        path.write_bytes(data)
        return detect_kind(path).kind


def test_inline_named_image_is_an_attachment_and_duplicates_are_renamed(make_eml):
    msg = EmailMessage()
    msg["Subject"] = "Logo"
    msg["From"] = "a@example.com"
    msg.set_content("text\n")
    msg.add_alternative('<p>hi <img src="cid:logo"></p>', subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG-1", maintype="image", subtype="png", filename="logo.png")
    msg.add_attachment(b"\x89PNG-2", maintype="image", subtype="png", filename="logo.png")
    msg.add_attachment(b"raw", maintype="application", subtype="octet-stream")

    content = parse_email(make_eml(msg))

    assert [(a.filename, a.data) for a in content.attachments] == [
        ("logo.png", b"\x89PNG-1"),
        ("logo (2).png", b"\x89PNG-2"),
        ("attachment.bin", b"raw"),
    ]
