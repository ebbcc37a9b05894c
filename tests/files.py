"""Files the tests make themselves: rendered images, generated PDFs, DOCX and mail."""

from __future__ import annotations

import io
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# A small receipt the OCR tests render: known vendor, date and total.
RECEIPT = [
    "CORNER CAFE",
    "12 High Street, London",
    "Date: 14/03/2026",
    "Coffee 3.50",
    "Cake 4.25",
    "TOTAL 7.75 GBP",
]

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int = 48) -> ImageFont.FreeTypeFont:
    if FONT.exists():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)


def text_image(lines: list[str], *, size: int = 48, fmt: str = "PNG", width: int = 1400) -> bytes:
    """Black text on white, large enough for any OCR engine to read."""
    height = 80 + len(lines) * int(size * 1.8)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 40 + i * int(size * 1.8)), line, fill="black", font=font(size))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def blank_image(fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(out, fmt)
    return out.getvalue()


def text_pdf(pages: list[str], *, encrypt: str | None = None) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, encrypt=encrypt)
    for text in pages:
        y = 780
        for line in text.splitlines():
            pdf.drawString(72, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A PDF whose only content is a picture of text, as a scanner makes."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(595, 842))
    picture = Image.open(io.BytesIO(text_image(lines)))
    width = 555
    height = width * picture.height / picture.width
    pdf.drawImage(ImageReader(picture), 20, 800 - height, width=width, height=height)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def docx_file(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def mail(
    body: str,
    attachments: Sequence[tuple[str, str, bytes] | EmailMessage] = (),
    *,
    sender: str = "Supplier <billing@supplier.example>",
    to: str | None = "inbox@acme.example",
    subject: str = "Invoice attached",
    date: str | None = "Thu, 26 Nov 2026 09:00:00 +0000",
) -> EmailMessage:
    """A mail with a plain body and attachments: (filename, MIME type, data) for a file, a
    mail for a forwarded one. `to` or `date` None leaves that header out."""
    message = EmailMessage()
    message["From"] = sender
    if to is not None:
        message["To"] = to
    message["Subject"] = subject
    if date is not None:
        message["Date"] = date
    message.set_content(body)
    for attachment in attachments:
        if isinstance(attachment, EmailMessage):
            message.add_attachment(attachment)
            continue
        filename, mime, data = attachment
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def eml_file(body: str, attachments: list[tuple[str, str, bytes]]) -> bytes:
    """The bytes of an .eml file: a supplier's mail to the inbox (see `mail`)."""
    return mail(body, attachments).as_bytes()
