from __future__ import annotations

import os

import pytest
from PIL import Image

from catalog.runtime import ocr
from catalog.runtime.ocr import (
    OcrEngine,
    OcrLine,
    OcrResult,
    RapidOcrEngine,
    TesseractEngine,
    _merge_rows,
    get_ocr_engine,
    tesseract_available,
    to_rgb,
)

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(),
    reason="tesseract is not installed (apt-get install tesseract-ocr)",
)

WORDS = ["INVOICE", "4721", "TOTAL", "93.50"]


def _assert_boxes_inside(result: OcrResult, image: Image.Image) -> None:
    assert result.lines
    for line in result.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= image.width
        assert 0 <= y0 < y1 <= image.height
        assert 0.0 <= line.confidence <= 1.0


def _assert_reads_invoice(result: OcrResult, image: Image.Image) -> None:
    tokens = result.text.split()
    for word in WORDS:
        assert word in tokens, f"{word!r} missing from {result.text!r}"
    assert result.confidence is not None
    assert 0.5 < result.confidence <= 1.0
    assert result.text == "\n".join(line.text for line in result.lines)
    _assert_boxes_inside(result, image)


def test_rapidocr_reads_rendered_words(rapid, text_image):
    image = text_image(["INVOICE 4721", "TOTAL 93.50"])

    result = rapid.recognize(image)

    assert rapid.name == "rapidocr"
    _assert_reads_invoice(result, image)
    assert [line.text for line in result.lines] == ["INVOICE 4721", "TOTAL 93.50"]
    # First line drawn at y=60 with a 64 px font, second one 104 px lower.
    first, second = result.lines
    assert first.box[1] < second.box[1]
    assert 40 <= first.box[1] <= 80
    assert 150 <= second.box[1] <= 190


@needs_tesseract
def test_tesseract_reads_rendered_words(text_image):
    engine = get_ocr_engine("tesseract")
    image = text_image(["INVOICE 4721", "TOTAL 93.50"])

    result = engine.recognize(image)

    assert engine.name == "tesseract"
    _assert_reads_invoice(result, image)
    assert [line.text for line in result.lines] == ["INVOICE 4721", "TOTAL 93.50"]


@needs_tesseract
def test_tesseract_runs_with_one_openmp_thread_unless_told(text_image, monkeypatch):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "environ", pytesseract.pytesseract.environ)
    monkeypatch.delenv("PYQ_TESSERACT_THREADS", raising=False)
    get_ocr_engine("tesseract").recognize(text_image(["TOTAL 93.50"]))
    assert pytesseract.pytesseract.environ["OMP_THREAD_LIMIT"] == "1"

    monkeypatch.setenv("PYQ_TESSERACT_THREADS", "2")
    result = get_ocr_engine("tesseract").recognize(text_image(["TOTAL 93.50"]))
    assert pytesseract.pytesseract.environ["OMP_THREAD_LIMIT"] == "2"
    assert result.text == "TOTAL 93.50"
    assert "OMP_THREAD_LIMIT" not in os.environ or os.environ["OMP_THREAD_LIMIT"] != "2"


@needs_tesseract
def test_tesseract_upscales_small_images_and_maps_boxes_back(text_image):
    engine = get_ocr_engine("tesseract")
    image = text_image(["TOTAL 93.50"], size=(320, 60), font_size=24, origin=(10, 15))

    result = engine.recognize(image)

    assert result.text == "TOTAL 93.50"
    _assert_boxes_inside(result, image)
    x0, y0, x1, _ = result.lines[0].box
    # Boxes are in the caller's pixels, not the upscaled working image.
    assert x0 < 20
    assert y0 < 30
    assert x1 < 200


@pytest.mark.parametrize(
    "engine_name", ["rapidocr", pytest.param("tesseract", marks=needs_tesseract)]
)
def test_blank_image_gives_empty_result(engine_name):
    engine = get_ocr_engine(engine_name)

    result = engine.recognize(Image.new("RGB", (800, 600), "white"))

    assert result == OcrResult(text="", confidence=None, lines=[])


def test_rapidocr_accepts_non_rgb_images(rapid, text_image):
    image = text_image(["INVOICE 4721 TOTAL 93.50"], mode="L")

    result = rapid.recognize(image)

    assert result.text == "INVOICE 4721 TOTAL 93.50"


def test_engines_are_created_once_per_process(rapid):
    assert get_ocr_engine("rapidocr") is rapid
    assert get_ocr_engine("RapidOCR") is rapid
    assert isinstance(rapid, RapidOcrEngine)
    assert isinstance(rapid, OcrEngine)


def test_auto_prefers_tesseract_when_installed(monkeypatch, rapid):
    monkeypatch.setattr(ocr, "tesseract_available", lambda: False)
    assert get_ocr_engine("auto") is rapid

    monkeypatch.setattr(ocr, "tesseract_available", lambda: True)
    engine = get_ocr_engine("auto")
    assert isinstance(engine, TesseractEngine)
    assert get_ocr_engine() is engine


def test_forced_tesseract_without_binary_explains_install(monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_available", lambda: False)

    with pytest.raises(RuntimeError, match=r"apt-get install tesseract-ocr"):
        get_ocr_engine("tesseract")


def test_unknown_engine_name_is_an_error():
    with pytest.raises(ValueError, match="easyocr"):
        get_ocr_engine("easyocr")


def test_tesseract_available_is_cached():
    assert tesseract_available() is tesseract_available()
    assert tesseract_available.cache_info().hits >= 1


def test_confidence_is_weighted_by_text_length():
    lines = [
        OcrLine(text="ab", confidence=1.0, box=(0, 0, 10, 10)),
        OcrLine(text="abcd", confidence=0.25, box=(0, 20, 10, 30)),
    ]

    result = OcrResult.from_lines(lines)

    assert result.text == "ab\nabcd"
    assert result.confidence == pytest.approx(0.5)


def test_rapidocr_segments_on_one_row_are_merged_left_to_right():
    segments = [
        OcrLine("93.50", 0.5, (400, 102, 480, 128)),  # same row as TOTAL, slightly lower
        OcrLine("Date", 1.0, (10, 10, 60, 30)),
        OcrLine("TOTAL", 1.0, (10, 100, 90, 125)),
        OcrLine("2024-01-05", 1.0, (300, 12, 420, 31)),
    ]

    lines = _merge_rows(segments)

    assert [line.text for line in lines] == ["Date 2024-01-05", "TOTAL 93.50"]
    assert lines[1].box == (10, 100, 480, 128)
    assert lines[1].confidence == pytest.approx((5 * 1.0 + 5 * 0.5) / 10)


def test_tesseract_grouping_ignores_minus_one_confidence():
    data = {
        "page_num": [1, 1, 1, 1, 1],
        "block_num": [1, 1, 1, 1, 2],
        "par_num": [1, 1, 1, 1, 1],
        "line_num": [0, 1, 1, 1, 1],
        "left": [0, 10, 100, 200, 10],
        "top": [0, 10, 10, 10, 60],
        "width": [300, 80, 80, 40, 50],
        "height": [100, 20, 20, 20, 20],
        "conf": [-1, 90, "80.0", -1, 50],
        "text": ["", "Hello", "world", " ", "Bye"],
    }

    lines = TesseractEngine._group_lines(data, factor=2.0, width=150, height=50)

    assert [line.text for line in lines] == ["Hello world", "Bye"]
    assert lines[0].confidence == pytest.approx(0.85)
    assert lines[0].box == (5, 5, 90, 15)  # halved because the work image was 2x
    assert lines[1].box == (5, 30, 30, 40)


def test_to_rgb_flattens_transparency_onto_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image.putpixel((1, 1), (0, 0, 0, 255))

    rgb = to_rgb(image)

    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    assert rgb.getpixel((1, 1)) == (0, 0, 0)


def test_to_rgb_maps_16_bit_greyscale():
    image = Image.new("I;16", (2, 1))
    image.putpixel((0, 0), 1000)
    image.putpixel((1, 0), 3000)

    rgb = to_rgb(image)

    assert rgb.getpixel((0, 0)) == (0, 0, 0)
    assert rgb.getpixel((1, 0)) == (255, 255, 255)


def test_overlapping_rapidocr_segments_do_not_repeat_characters():
    from catalog.runtime.ocr import _merge_rows

    segments = [
        OcrLine("from t", 0.9, (100, 10, 160, 30)),  # 10 px a character
        OcrLine("the corner shop", 0.9, (150, 10, 300, 30)),  # starts under the "t"
        OcrLine("TOTAL", 0.9, (100, 50, 150, 70)),
        OcrLine("45.20", 0.9, (200, 50, 250, 70)),  # apart: kept as it is
    ]
    assert [line.text for line in _merge_rows(segments)] == ["from the corner shop", "TOTAL 45.20"]
