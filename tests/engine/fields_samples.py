"""Documents for the field-extraction tests, made by the tests themselves: a receipt
rendered to an image (then OCR'd for real) and an invoice PDF with a line-item table."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from automations.engine.extract import iter_pages
from automations.engine.fields import PageText
from automations.engine.filetypes import inspect_file
from catalog.runtime.ocr import OcrEngine

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

RECEIPT_LINES = [
    "KEDAI BUKU MAJU SDN BHD",
    "(123456-A)",
    "NO. 12, JALAN MERDEKA 3,",
    "TAMAN MELATI, 53100 KUALA LUMPUR",
    "TEL: 03-4021 8899",
    "TAX INVOICE",
    "Date: 25/12/2018 14:05",
    "Receipt No: CS00012345",
    "NOTEBOOK A5          2 x 4.50    9.00",
    "PEN BLUE             3 x 1.20    3.60",
    "SUBTOTAL                        12.60",
    "GST 6%                           0.76",
    "TOTAL (RM)                      13.36",
    "ROUNDING                        -0.01",
    "ROUNDED TOTAL                   13.35",
    "CASH                            20.00",
    "CHANGE                           6.65",
    "THANK YOU, PLEASE COME AGAIN",
]

INVOICE_ROWS = [
    ("Consulting services", "10", "120.00", "1,200.00"),
    ("Travel expenses", "1", "345.50", "345.50"),
    ("Software licence", "2", "49.99", "99.98"),
]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if DEJAVU.exists():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size=size)


def render_receipt(lines: list[str] = RECEIPT_LINES, font_size: int = 26) -> Image.Image:
    """A clean receipt scan: black monospaced-looking text on white."""
    face = font(font_size)
    line_height = font_size + 16
    image = Image.new("RGB", (900, 60 + line_height * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    y = 30
    for line in lines:
        # Right-align the amount column the way receipt printers do.
        label, _, amount = line.rpartition("  ")
        if label and amount.strip():
            draw.text((40, y), label.rstrip(), fill="black", font=face)
            width = draw.textlength(amount.strip(), font=face)
            draw.text((860 - width, y), amount.strip(), fill="black", font=face)
        else:
            draw.text((40, y), line, fill="black", font=face)
        y += line_height
    return image


def write_invoice_pdf(path: Path) -> Path:
    """A digital (text-layer) invoice with a header block and a line-item table."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    height = A4[1]
    c.setFont("Helvetica-Bold", 16)
    c.drawString(50, height - 60, "Northwind Traders GmbH")
    c.setFont("Helvetica", 10)
    c.drawString(50, height - 78, "Hauptstrasse 5, 10115 Berlin")
    c.drawString(50, height - 92, "info@northwind.example.de")
    y = height - 130
    for label, value in [
        ("Invoice No:", "INV-2024-0042"),
        ("Invoice Date:", "March 5, 2024"),
        ("Due Date:", "04/04/2024"),
        ("PO Number:", "PO-7781"),
    ]:
        c.drawString(50, y, label)
        c.drawString(160, y, value)
        y -= 16
    c.drawString(350, height - 130, "Bill to: Contoso Ltd, 1 Main Street")
    y -= 20
    c.setFont("Helvetica-Bold", 10)
    for x, head in [(50, "Description"), (300, "Qty"), (370, "Unit Price"), (480, "Amount")]:
        c.drawString(x, y, head)
    c.setFont("Helvetica", 10)
    for description, qty, price, amount in INVOICE_ROWS:
        y -= 18
        c.drawString(50, y, description)
        c.drawString(300, y, qty)
        c.drawString(370, y, price)
        c.drawString(480, y, amount)
    y -= 30
    for label, amount in [
        ("Subtotal", "1,645.48"),
        ("VAT 19%", "312.64"),
        ("Total", "EUR 1,958.12"),
    ]:
        c.drawString(370, y, label)
        c.drawString(480, y, amount)
        y -= 16
    c.drawString(50, y - 20, "IBAN: DE89 3704 0044 0532 0130 00")
    c.showPage()
    c.save()
    return path


def pages_of(path: Path, ocr: OcrEngine) -> list[PageText]:
    """Run the production pipeline: inspect, extract pages, keep text, lines and size."""
    pages = []
    for page in iter_pages(path, inspect_file(path).kind, ocr):
        size = page.image.size if page.image is not None else (None, None)
        pages.append(PageText(page.number, page.text, list(page.lines), size[0], size[1]))
    return pages


def text_page(text: str, number: int = 1) -> PageText:
    return PageText(number=number, text=text)
