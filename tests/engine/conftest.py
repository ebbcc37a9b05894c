"""Builders for the engine tests: every input file is generated in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if DEJAVU.exists():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size=size)


def render_text_image(
    lines: list[str],
    size: tuple[int, int] = (1400, 400),
    font_size: int = 64,
    origin: tuple[int, int] = (60, 60),
    line_gap: int = 40,
    mode: str = "RGB",
) -> Image.Image:
    """Black text on white, one entry of ``lines`` per text line."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font(font_size)
    x, y = origin
    for line in lines:
        draw.text((x, y), line, fill="black", font=font)
        y += font_size + line_gap
    return img.convert(mode) if mode != "RGB" else img


@pytest.fixture(scope="session")
def text_image() -> Callable[..., Image.Image]:
    return render_text_image


@pytest.fixture(scope="session")
def rapid():
    """One RapidOCR engine for the whole session (loading the models is expensive)."""
    from catalog.runtime.ocr import get_ocr_engine

    return get_ocr_engine("rapidocr")


@pytest.fixture
def make_text_pdf(tmp_path: Path) -> Callable[..., Path]:
    """A PDF with a real text layer; ``pages`` is a list of lists of lines."""
    from reportlab.pdfgen import canvas

    def build(
        pages: list[list[str]],
        name: str = "text.pdf",
        encrypt: str | None = None,
        picture: bool = False,
    ) -> Path:
        """``picture`` adds a small image to each page, as a scan with a thin text layer has."""
        from reportlab.lib.utils import ImageReader

        path = tmp_path / name
        c = canvas.Canvas(str(path), encrypt=encrypt) if encrypt else canvas.Canvas(str(path))
        for lines in pages:
            if picture:
                c.drawImage(ImageReader(Image.new("RGB", (40, 40), "white")), 400, 100, 40, 40)
            y = 760
            for line in lines:
                c.drawString(72, y, line)
                y -= 20
            c.showPage()
        c.save()
        return path

    return build


@pytest.fixture
def make_scanned_pdf(tmp_path: Path) -> Callable[..., Path]:
    """A PDF whose pages contain only a picture of text (no text layer)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    def build(images: list[Image.Image], name: str = "scan.pdf") -> Path:
        path = tmp_path / name
        # A small page keeps the 300 dpi render (and the test) fast.
        c = canvas.Canvas(str(path), pagesize=(420, 200))
        for img in images:
            c.drawImage(ImageReader(img), 10, 10, width=400, height=400 * img.height / img.width)
            c.showPage()
        c.save()
        return path

    return build


@pytest.fixture
def make_docx(tmp_path: Path) -> Callable[..., Path]:
    def build(name: str = "doc.docx") -> Path:
        import docx

        document = docx.Document()
        document.add_paragraph("Purchase order 7781")
        table = document.add_table(rows=2, cols=2)
        table.cell(0, 0).text = "Item"
        table.cell(0, 1).text = "Qty"
        table.cell(1, 0).text = "Widget"
        table.cell(1, 1).text = "12"
        document.add_paragraph("Thank you")
        path = tmp_path / name
        document.save(str(path))
        return path

    return build


@pytest.fixture
def make_eml(tmp_path: Path) -> Callable[..., Path]:
    def build(msg: EmailMessage, name: str = "mail.eml") -> Path:
        path = tmp_path / name
        path.write_bytes(bytes(msg))
        return path

    return build


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def build(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return build
