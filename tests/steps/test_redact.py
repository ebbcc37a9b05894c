from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont

from automations.engine.fields import PageText
from automations.engine.steps import StepConfigError, StepFailed, get_step, validate_config
from automations.steps.redact import (
    RedactStep,
    compile_patterns,
    find_matches,
    iban_is_valid,
    luhn_is_valid,
    mask_preview,
)
from automations.steps.redact import patterns as redact_patterns
from catalog.runtime.ocr import OcrLine

PLANTED = (
    "Dear customer, write to jane.roe@example.com or call +44 20 7946 0958.\n"
    "Pay to GB82 WEST 1234 5698 7654 32 (not GB82 WEST 1234 5698 7654 33).\n"
    "Card 4111 1111 1111 1111 was charged; 4111 1111 1111 1112 was refused.\n"
    "Invoice date 12.03.2024, total 1 234 567.89 EUR, order 4721."
)
SECRETS = {
    "email": "jane.roe@example.com",
    "phone": "+44 20 7946 0958",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "card": "4111 1111 1111 1111",
}
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _found(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(m.kind, text[m.start : m.end]) for m in find_matches(text, **kwargs)]


def test_finds_exactly_the_planted_values():
    assert _found(PLANTED) == [
        ("email", SECRETS["email"]),
        ("phone", SECRETS["phone"]),
        ("iban", SECRETS["iban"]),
        ("card", SECRETS["card"]),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call 030 1234567 today", [("phone", "030 1234567")]),
        ("Tel. (415) 555-2671.", [("phone", "(415) 555-2671")]),
        ("Appelez le 01 23 45 67 89", [("phone", "01 23 45 67 89")]),
        ("Fax 0044 20 7946 0958", [("phone", "0044 20 7946 0958")]),
        (
            "+44 20 7946 0958 / 030 1234567",
            [("phone", "+44 20 7946 0958"), ("phone", "030 1234567")],
        ),
        ("on 01.02.2024 and 2024-03-12 and 01/02/2024", []),
        ("Total: 1.234.567,89 EUR, +1 234 567.89 credit, 93.50", []),
        ("Order 4721938475, ref 0000123456", []),
        ("IBAN DE89 3704 0044 0532 0130 00 ok", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("IBAN DE89370400440532013000.", [("iban", "DE89370400440532013000")]),
        ("card 4111-1111-1111-1111 2", [("card", "4111-1111-1111-1111")]),
        ("amex 3782 822463 10005", [("card", "3782 822463 10005")]),
        ("mail a.b+tag@sub.example.co.uk.", [("email", "a.b+tag@sub.example.co.uk")]),
        ("not an address: user@localhost or @handle", []),
    ],
)
def test_detectors(text, expected):
    assert _found(text) == expected


def test_checksums():
    assert iban_is_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_is_valid("GB82 WEST 1234 5698 7654 33")
    assert not iban_is_valid("GB82 WEST 1234 5698 7654")  # a GB IBAN has 22 characters
    assert luhn_is_valid("4111111111111111")
    assert not luhn_is_valid("4111111111111112")
    assert luhn_is_valid("4111 1111 1111 1111²")  # other digits are skipped, like spaces


def test_previews_hide_the_values():
    assert mask_preview("email", "jane.roe@example.com") == "j***@example.com"
    assert mask_preview("phone", "+44 20 7946 0958") == "+** ** **** **58"
    assert mask_preview("iban", "GB82 WEST 1234 5698 7654 32") == "GB** **** **** **** **** 32"
    assert mask_preview("card", "4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask_preview("custom", "EMP-12345") == "E***"


def test_step_redacts_text_and_never_outputs_a_value(make_context):
    outcome = get_step("redact").run(make_context("Nothing here.", PLANTED), {})

    output = outcome.output
    assert output["counts"] == {"email": 1, "phone": 1, "iban": 1, "card": 1}
    assert [(m["kind"], m["page"], m["preview"]) for m in output["matches"]] == [
        ("email", 2, "j***@example.com"),
        ("phone", 2, "+** ** **** **58"),
        ("iban", 2, "GB** **** **** **** **** 32"),
        ("card", 2, "**** **** **** 1111"),
    ]
    email = output["matches"][0]
    assert PLANTED[email["start"] : email["end"]] == SECRETS["email"]
    assert output["text_by_page"]["1"] == "Nothing here."
    redacted = output["text_by_page"]["2"]
    assert len(redacted) == len(PLANTED)
    assert redacted[email["start"] : email["end"]] == "█" * len(SECRETS["email"])
    assert "GB82 WEST 1234 5698 7654 33" in redacted
    assert "12.03.2024" in redacted
    dumped = json.dumps(output)
    for value in [*SECRETS.values(), "jane.roe", "7946 0958"]:
        assert value not in dumped
    assert outcome.pages[1].text == redacted
    assert output["artifacts"] == []  # a text document has no page pictures
    assert outcome.warnings == []


def test_labelled_replacement_and_kind_selection(make_context):
    config = {"kinds": ["email", "card"], "replacement": "[REDACTED:{kind}]"}

    output = get_step("redact").run(make_context(PLANTED), config).output

    assert output["counts"] == {"email": 1, "card": 1}
    assert "write to [REDACTED:email] or call +44 20 7946 0958." in output["text_by_page"]["1"]
    assert "Card [REDACTED:card] was charged" in output["text_by_page"]["1"]


def test_custom_pattern(make_context):
    config = {"kinds": ["custom"], "patterns": [{"name": "employee id", "regex": r"EMP-\d{5}"}]}

    output = (
        get_step("redact").run(make_context("Badge EMP-12345, jane@example.com"), config).output
    )

    assert output["counts"] == {"custom": 1}
    assert output["matches"][0]["pattern"] == "employee id"
    assert output["text_by_page"]["1"] == "Badge █████████, jane@example.com"


def test_a_pattern_that_searches_past_its_time_bound_fails_the_step(make_context, monkeypatch):
    # The time bound is what stops a pattern the nested-repeat check cannot see; here a plain
    # pattern gets a bound far below what a long text needs, so the real search runs past it.
    monkeypatch.setattr(redact_patterns, "PATTERN_TIMEOUT", 0.0005)
    text = ("a" * 50 + " ") * 20000
    config = {"kinds": ["custom"], "patterns": [{"name": "code", "regex": r"a+b"}]}

    with pytest.raises(StepFailed) as failed:
        get_step("redact").run(make_context(text), config)

    assert str(failed.value).startswith("Redact: pattern 'code' took too long on this document")


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("EMP-(\\d+", "pattern 'bad' is not a valid regex"),
        ("(a+)+$", "pattern 'bad' repeats a group that itself repeats"),
        ("(\\w+\\s?)*end", "pattern 'bad' repeats a group that itself repeats"),
        ("x*", "pattern 'bad' matches empty text"),
        ("a" * 201, "pattern 'bad' is longer than 200 characters"),
    ],
)
def test_dangerous_or_broken_patterns_are_refused(regex, message):
    with pytest.raises(StepConfigError, match=message):
        compile_patterns([{"name": "bad", "regex": regex}])
    with pytest.raises(StepConfigError):
        RedactStep.validate({"patterns": [{"name": "bad", "regex": regex}]})


@pytest.mark.parametrize(
    "config",
    [
        {"kinds": ["ssn"]},
        {"kinds": ["email", "email"]},
        {"kinds": ["custom"]},
        {"patterns": [{"name": "x"}]},
        {"replacement": ""},
        {"mask": True},
    ],
)
def test_bad_configs_are_refused(config):
    with pytest.raises(StepConfigError):
        RedactStep.validate(config)


def test_defaults_are_filled():
    assert validate_config(get_step("redact"), {}) == {
        "kinds": ["email", "phone", "iban", "card"],
        "patterns": [],
        "replacement": "█",
    }


# --- artefacts ------------------------------------------------------------------------------


def _pdf_with_email(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 760, "Hello, write to jane.roe@example.com today.")
    pdf.drawString(72, 740, "Nothing secret on this line.")
    pdf.showPage()
    pdf.drawString(72, 760, "Page two has no personal data.")
    pdf.showPage()
    pdf.save()
    return path


def _text_layer(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def _char_span_box(textpage, start: int, end: int) -> tuple[float, float, float, float]:
    boxes = [textpage.get_charbox(i) for i in range(start, end)]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _pixels(page, box: tuple[float, float, float, float], scale: float) -> np.ndarray:
    """Grey pixels of the rendered ``page`` inside ``box`` (PDF points), edges excluded."""
    image = np.asarray(page.render(scale=scale).to_pil().convert("L"))
    height = page.get_height()
    left, bottom, right, top = box
    rows = slice(int((height - top) * scale) + 1, int((height - bottom) * scale) - 1)
    cols = slice(int(left * scale) + 1, int(right * scale) - 1)
    return image[rows, cols]


def test_redacted_pdf_is_image_only_and_black_over_the_email(tmp_path, make_context, services):
    source = _pdf_with_email(tmp_path / "letter.pdf")
    pages = [PageText(i + 1, text) for i, text in enumerate(_text_layer(source))]
    context = make_context(
        pages=pages, services=services, name="letter.pdf", kind="pdf", path=str(source)
    )

    outcome = get_step("redact").run(context, {})

    assert outcome.output["counts"] == {"email": 1}
    assert outcome.output["artifacts"] == [
        {
            "name": "letter-redacted.pdf",
            "content_type": "application/pdf",
            "ref": "artifact://letter-redacted.pdf",
        }
    ]
    data, content_type = services.saved["letter-redacted.pdf"]
    assert content_type == "application/pdf"
    redacted = pdfium.PdfDocument(data)
    assert len(redacted) == 2
    for i in range(len(redacted)):
        textpage = redacted[i].get_textpage()
        assert textpage.count_chars() == 0
        assert textpage.get_text_range() == ""

    original = pdfium.PdfDocument(str(source))
    textpage = original[0].get_textpage()
    text = textpage.get_text_range()
    email_at = text.index("jane.roe@example.com")
    email_box = _char_span_box(textpage, email_at, email_at + len("jane.roe@example.com"))
    other_box = _char_span_box(textpage, text.index("Nothing"), text.index("Nothing") + 7)
    scale = 150 / 72
    under_email = _pixels(redacted[0], email_box, scale)
    assert under_email.size > 500
    assert under_email.max() < 40  # black (JPEG compression leaves a little noise)
    assert _pixels(redacted[0], other_box, scale).max() > 200  # the rest is still readable


def _line_image(lines: list[str]) -> tuple[Image.Image, list[OcrLine]]:
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(40)
    image = Image.new("RGB", (1400, 80 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    ocr_lines = []
    for i, line in enumerate(lines):
        origin = (40, 40 + 70 * i)
        draw.text(origin, line, fill="black", font=font)
        box = draw.textbbox(origin, line, font=font)
        ocr_lines.append(OcrLine(text=line, confidence=0.99, box=tuple(int(v) for v in box)))
    return image, ocr_lines


def test_page_image_gets_black_boxes_over_the_matches(make_context, services):
    lines = ["Please reply to jane.roe@example.com soon", "Nothing secret here"]
    image, ocr_lines = _line_image(lines)
    page = PageText(1, "\n".join(lines), lines=ocr_lines, width=image.width, height=image.height)
    services.images[1] = image
    context = make_context(pages=[page], services=services, name="scan.png", kind="png")

    outcome = get_step("redact").run(context, {})

    [artifact] = outcome.output["artifacts"]
    assert artifact["name"] == "scan-page-1-redacted.png"
    data, content_type = services.saved[artifact["name"]]
    assert content_type == "image/png"
    redacted = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert redacted.shape == (image.height, image.width)
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(40)
    draw = ImageDraw.Draw(image)
    x0 = 40 + draw.textlength("Please reply to ", font=font)
    x1 = 40 + draw.textlength("Please reply to jane.roe@example.com", font=font)
    y0, y1 = ocr_lines[0].box[1], ocr_lines[0].box[3]
    # Offsets give the span approximately (glyphs differ in width): its core must be black.
    margin = (x1 - x0) * 0.1
    assert redacted[y0:y1, int(x0 + margin) : int(x1 - margin)].max() == 0
    original = np.asarray(image.convert("L"))
    assert (redacted[y0:y1, 40:100] == original[y0:y1, 40:100]).all()  # "Please" untouched
    second = ocr_lines[1].box
    assert (redacted[second[1] : second[3]] == original[second[1] : second[3]]).all()
    assert outcome.pages[0].lines[0].text == "Please reply to ████████████████████ soon"


def test_in_memory_services_keep_the_redacted_copy_in_memory(tmp_path, make_context):
    # The playground's services: the copy goes back to the caller, nothing is stored.
    source = _pdf_with_email(tmp_path / "letter.pdf")
    pages = [PageText(i + 1, text) for i, text in enumerate(_text_layer(source))]
    context = make_context(pages=pages, name="letter.pdf", kind="pdf", path=str(source))

    outcome = get_step("redact").run(context, {})

    assert outcome.output["counts"] == {"email": 1}
    assert outcome.warnings == []
    [kept] = context.services.artifacts
    assert outcome.output["artifacts"] == [
        {"name": "letter-redacted.pdf", "content_type": "application/pdf", "ref": kept["name"]}
    ]
    assert kept["data"].startswith(b"%PDF")
    (tmp_path / "copy.pdf").write_bytes(kept["data"])
    assert "jane.roe@example.com" not in "\n".join(_text_layer(tmp_path / "copy.pdf"))


def test_scanned_pdf_is_redacted_from_its_ocr_boxes(tmp_path, make_context, services):
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    lines = ["Please reply to jane.roe@example.com soon", "Nothing secret here"]
    image, ocr_lines = _line_image(lines)
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(image.width / 2, image.height / 2))
    pdf.drawImage(ImageReader(image), 0, 0, width=image.width / 2, height=image.height / 2)
    pdf.showPage()
    pdf.save()
    # OCR ran on a picture of the page twice the size of the 72 dpi page: boxes must scale.
    page = PageText(1, "\n".join(lines), lines=ocr_lines, width=image.width, height=image.height)
    context = make_context(
        pages=[page], services=services, name="scan.pdf", kind="pdf", path=str(path)
    )

    outcome = get_step("redact").run(context, {})

    data, _ = services.saved["scan-redacted.pdf"]
    redacted = pdfium.PdfDocument(data)[0]
    rendered = np.asarray(redacted.render(scale=image.width / redacted.get_width()).to_pil())
    grey = rendered.mean(axis=2)
    x0, y0, x1, y1 = ocr_lines[0].box
    email_left = x0 + (x1 - x0) * len("Please reply to ") / len(lines[0])
    email_right = x0 + (x1 - x0) * len("Please reply to jane.roe@example.com") / len(lines[0])
    assert grey[y0 + 2 : y1 - 2, int(email_left) + 2 : int(email_right) - 2].max() < 40
    please = grey[y0:y1, x0 : x0 + 60]
    assert please.min() < 100  # "Please" is still printed ...
    assert please.max() > 200  # ... black on white, not boxed
    assert outcome.output["counts"] == {"email": 1}
