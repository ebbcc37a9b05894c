"""Redact: find personal and payment data and black it out, in the text and in the pages.

Detectors are strict on purpose: an IBAN must pass its mod-97 check and a card number the
Luhn check, and a phone number needs a phone's shape (international prefix, trunk 0, or
the North American 3-3-4 grouping), so dates, amounts and order numbers stay readable.

Besides the redacted text, the step makes copies a person can share: for a PDF, every page
rendered to a picture with black boxes over the matches and reassembled into a PDF with
no text layer (nothing to copy back out); for a picture, the picture with the OCR lines'
matching parts blacked out. The output never contains a matched value, only a masked
preview.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import regex

from automations.engine.fields import PageText
from automations.engine.steps import (
    StepConfigError,
    StepContext,
    StepFailed,
    StepOutcome,
    register,
)
from automations.steps._common import ValidatingStep

BUILTIN_KINDS = ("email", "phone", "iban", "card")
ALL_KINDS = (*BUILTIN_KINDS, "custom")
# Overlaps go to the longer match; on equal length to the earlier kind here.
PRIORITY = {"email": 0, "iban": 1, "card": 2, "phone": 3, "custom": 4}
MAX_PATTERN_LENGTH = 200
# Seconds one custom pattern may search one text: the last bound on a pattern that backtracks
# in a way the nested-repeat check cannot see, like (a|a)*b.
PATTERN_TIMEOUT = 2.0
MAX_PATTERNS = 20
RENDER_DPI = 150
PDF_PAGES_PER_WRITE = 8  # pages held in memory while assembling the redacted PDF
BOX = (0, 0, 0)


@dataclass(frozen=True)
class Match:
    kind: str  # email, phone, iban, card, custom
    start: int
    end: int
    label: str  # the kind, or a custom pattern's name

    @property
    def length(self) -> int:
        return self.end - self.start


# --- detectors ----------------------------------------------------------------------------

EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w@])",
    re.ASCII,
)
IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
CARD_RUN = re.compile(r"(?<![0-9.,-])[0-9](?:[ -]?[0-9]){12,18}(?![0-9]|[.,][0-9])")
# A run of phone-like characters (bounded, so matching stays linear); which part of it is
# a phone is decided in Python, token by token.
PHONE_RUN = re.compile(
    r"(?<![\w+.,/-])[+(]?[0-9][0-9 ()./-]{5,40}[0-9](?![\w/]|[.,][0-9])", re.ASCII
)
DATE = re.compile(r"(?<![0-9])[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}(?![0-9])")
AMOUNT = re.compile(r"\+?[0-9]{1,3}(?:[ .,'][0-9]{3})*[.,][0-9]{1,2}")
NORTH_AMERICAN = re.compile(r"\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}")

# Lengths of IBANs by country (the SWIFT registry); other countries: 15 to 34.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 check: known length for the country and mod 97 == 1."""
    iban = candidate.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def luhn_is_valid(number: str) -> bool:
    digits = [int(d) for d in number if "0" <= d <= "9"]  # ASCII only: "²".isdigit() too
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return bool(digits) and total % 10 == 0


def card_is_valid(candidate: str) -> bool:
    digits = re.sub(r"[^0-9]", "", candidate)
    # Card numbers start with 2-6 (Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover 6);
    # checking it halves the false alarms on long reference numbers.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_is_valid(digits)


def phone_is_valid(candidate: str) -> bool:
    digits = re.sub(r"[^0-9]", "", candidate)
    if not 7 <= len(digits) <= 15 or "  " in candidate:
        return False
    if any(not re.search(r"[0-9]", token) for token in candidate.split()):
        return False  # "0958 / 030": a lone separator lists two numbers
    if candidate.count("(") != candidate.count(")") or candidate.count("(") > 1:
        return False
    if DATE.search(candidate) or AMOUNT.fullmatch(candidate):
        return False
    if candidate.startswith("+"):
        return len(digits) >= 8
    if digits.startswith("00"):  # international prefix, not a zero-padded id
        return len(digits) >= 10 and digits[2] != "0"
    if candidate.startswith("0") or candidate.startswith("(0"):
        return True  # national form with trunk prefix
    return bool(NORTH_AMERICAN.fullmatch(candidate))


def _token_windows(text: str, start: int, end: int, anchored: bool) -> Iterator[tuple[int, int]]:
    """Spans of whole space-separated tokens inside text[start:end], longest first.

    ``anchored`` keeps the window's start at ``start`` (an IBAN cannot start mid-run).
    """
    tokens = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    firsts = range(1) if anchored else range(len(tokens))
    windows = [(tokens[i][0], tokens[j][1]) for i in firsts for j in range(i, len(tokens))]
    yield from sorted(windows, key=lambda w: (w[0] - w[1], w[0]))


def _validated_spans(
    text: str,
    runs: Iterable[re.Match[str]],
    is_valid: Callable[[str], bool],
    anchored: bool,
) -> Iterator[tuple[int, int]]:
    """For each candidate run, the longest non-overlapping token windows that validate."""
    for run in runs:
        taken: list[tuple[int, int]] = []
        for s, e in _token_windows(text, run.start(), run.end(), anchored):
            if any(s < te and ts < e for ts, te in taken) or not is_valid(text[s:e]):
                continue
            taken.append((s, e))
            if anchored:
                break
        yield from taken


def _builtin_spans(kind: str, text: str) -> Iterator[tuple[int, int]]:
    if kind == "email":
        for m in EMAIL.finditer(text):
            yield m.span()
    elif kind == "iban":
        yield from _validated_spans(text, IBAN_RUN.finditer(text), iban_is_valid, anchored=True)
    elif kind == "card":
        # Cards split into groups by spaces; a group glued on after the number ("... 1111 2")
        # is cut off by trying shorter windows.
        yield from _validated_spans(text, CARD_RUN.finditer(text), card_is_valid, anchored=True)
    elif kind == "phone":
        yield from _validated_spans(text, PHONE_RUN.finditer(text), phone_is_valid, anchored=False)


def find_matches(
    text: str,
    kinds: Sequence[str] = BUILTIN_KINDS,
    patterns: Sequence[tuple[str, regex.Pattern[str]]] = (),
) -> list[Match]:
    """All matches in ``text``, without overlaps (the longer one wins), in text order."""
    found = [
        Match(kind, s, e, kind)
        for kind in kinds
        if kind in BUILTIN_KINDS
        for s, e in _builtin_spans(kind, text)
    ]
    for name, pattern in patterns:
        found.extend(Match("custom", s, e, name) for s, e in _custom_spans(name, pattern, text))
    chosen: list[Match] = []
    for match in sorted(found, key=lambda m: (-m.length, PRIORITY[m.kind], m.start)):
        if match.length and not any(match.start < c.end and c.start < match.end for c in chosen):
            chosen.append(match)
    return sorted(chosen, key=lambda m: m.start)


# --- custom patterns ----------------------------------------------------------------------


def _custom_spans(name: str, pattern: regex.Pattern[str], text: str) -> list[tuple[int, int]]:
    try:
        return [m.span() for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT)]
    except TimeoutError:
        raise StepFailed(
            f"Redact: pattern {name!r} took too long on this document (it can try too many "
            "ways to match). Make it simpler, for example without alternatives that match "
            "the same text, then retry the run."
        ) from None


def compile_patterns(patterns: Sequence[dict]) -> list[tuple[str, regex.Pattern[str]]]:
    """Compile the user's patterns, refusing broken ones and ones that can backtrack forever.

    Python's ``re`` has no timeout, so patterns are limited in length and nested repeats
    such as ``(a+)+`` (exponential on a near-miss) are refused up front.
    """
    compiled = []
    for item in patterns:
        name, source = item["name"], item["regex"]
        if len(source) > MAX_PATTERN_LENGTH:
            raise StepConfigError(
                f"Redact: pattern {name!r} is longer than {MAX_PATTERN_LENGTH} characters."
            )
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise StepConfigError(f"Redact: pattern {name!r} is not a valid regex: {exc}.") from exc
        if _has_nested_repeat(source):
            raise StepConfigError(
                f"Redact: pattern {name!r} repeats a group that itself repeats (like (a+)+); "
                "such patterns can run for hours on some texts. Write it without the nesting."
            )
        if pattern.fullmatch(""):
            raise StepConfigError(f"Redact: pattern {name!r} matches empty text.")
        # Matched by the regex module (the same syntax as re's, VERSION0), which has a timeout.
        compiled.append((name, regex.compile(source, regex.VERSION0)))
    return compiled


def _has_nested_repeat(source: str) -> bool:
    # re's own parser (private, so typeshed has no stubs for it) tells the pattern's shape.
    import re._constants as c  # type: ignore[import-not-found]
    import re._parser as parser  # type: ignore[import-not-found]

    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}

    def children(op: Any, av: Any) -> list[Any]:
        if op in repeats:
            return [av[2]]
        if op is c.SUBPATTERN:
            return [av[3]]
        if op is c.BRANCH:
            return list(av[1])
        if op in (c.ASSERT, c.ASSERT_NOT):
            return [av[1]]
        if op is c.ATOMIC_GROUP:
            return [av]
        if op is c.GROUPREF_EXISTS:
            return [p for p in av[1:] if p is not None]
        return []

    def walk(items: Any, inside_repeat: bool) -> bool:
        for op, av in items:
            variable = op in repeats and av[1] > av[0]
            if variable and inside_repeat:
                return True
            many = op in repeats and av[1] > 1
            if any(walk(child, inside_repeat or many) for child in children(op, av)):
                return True
        return False

    return walk(parser.parse(source), inside_repeat=False)


# --- text ---------------------------------------------------------------------------------


def replacement_for(match: Match, value: str, replacement: str) -> str:
    """One character fills the match to its length (offsets stay valid); otherwise the
    replacement text, where ``{kind}`` becomes the kind or the pattern's name."""
    if len(replacement) == 1:
        return "".join(ch if ch == "\n" else replacement for ch in value)
    return replacement.replace("{kind}", match.label)


def redact_text(text: str, matches: Sequence[Match], replacement: str = "█") -> str:
    out, cursor = [], 0
    for match in sorted(matches, key=lambda m: m.start):
        out.append(text[cursor : match.start])
        out.append(replacement_for(match, text[match.start : match.end], replacement))
        cursor = match.end
    out.append(text[cursor:])
    return "".join(out)


def mask_preview(kind: str, value: str) -> str:
    """Enough to recognise which value was redacted, not enough to recover it."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind in ("phone", "card", "iban"):
        keep = 4 if kind == "card" else 2
        countable = [i for i, ch in enumerate(value) if ch.isalnum()]
        hidden = set(countable[:-keep])
        if kind == "iban":
            hidden -= set(countable[:2])  # the country code says which bank system
        return "".join("*" if i in hidden else ch for i, ch in enumerate(value))
    return f"{value[:1]}***" if len(value) > 3 else "***"


# --- the step -----------------------------------------------------------------------------


@register
class RedactStep(ValidatingStep):
    name: ClassVar[str] = "redact"
    kind: ClassVar[str] = "transform"
    label: ClassVar[str] = "Redact"
    description: ClassVar[str] = (
        "Blacks out e-mail addresses, phone numbers, IBANs, card numbers and your own "
        "patterns, in the text and in a shareable image-only copy of the document."
    )
    output_hints: ClassVar[list[str]] = [
        "counts.email",
        "counts.phone",
        "counts.iban",
        "counts.card",
        "text_by_page.1",
    ]
    config_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {
            "kinds": {
                "type": "array",
                "items": {"enum": list(ALL_KINDS)},
                "uniqueItems": True,
                "default": list(BUILTIN_KINDS),
            },
            "patterns": {
                "type": "array",
                "maxItems": MAX_PATTERNS,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 50},
                        "regex": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_PATTERN_LENGTH,
                        },
                    },
                    "required": ["name", "regex"],
                    "additionalProperties": False,
                },
                "default": [],
            },
            "replacement": {"type": "string", "minLength": 1, "maxLength": 50, "default": "█"},
        },
        "additionalProperties": False,
    }

    @classmethod
    def check(cls, config: dict) -> None:
        if "custom" in config["kinds"] and not config["patterns"]:
            raise StepConfigError("Redact: patterns: add a pattern for the 'custom' kind.")
        compile_patterns(config["patterns"])

    def run(self, context: StepContext, config: dict) -> StepOutcome:
        config = self.validate(config)
        # Custom patterns apply whenever there are some: writing one is the intent.
        patterns = compile_patterns(config["patterns"])
        kinds = [k for k in config["kinds"] if k in BUILTIN_KINDS]
        by_page = {
            page.number: find_matches(page.text or "", kinds, patterns) for page in context.pages
        }
        output = _text_output(context.pages, by_page, config["replacement"])
        warnings: list[str] = []
        output["artifacts"] = _artifacts(context, by_page, kinds, patterns, warnings)
        pages = [
            _redacted_page(p, by_page[p.number], kinds, patterns, config["replacement"])
            for p in context.pages
        ]
        return StepOutcome(output=output, warnings=warnings, pages=pages)


def _text_output(pages: list[PageText], by_page: dict[int, list[Match]], replacement: str) -> dict:
    text_by_page: dict[str, str] = {}
    matches: list[dict] = []
    counts: dict[str, int] = {}
    for page in pages:
        text = page.text or ""
        found = by_page[page.number]
        # String keys: the output is stored as JSON, which has no integer keys.
        text_by_page[str(page.number)] = redact_text(text, found, replacement)
        for m in found:
            entry = {
                "kind": m.kind,
                "page": page.number,
                "start": m.start,
                "end": m.end,
                "preview": mask_preview(m.kind, text[m.start : m.end]),
            }
            if m.kind == "custom":
                entry["pattern"] = m.label
            matches.append(entry)
            counts[m.kind] = counts.get(m.kind, 0) + 1
    return {"text_by_page": text_by_page, "matches": matches, "counts": counts}


# --- OCR lines: where a match is on the page ------------------------------------------------


def _line_matches(page: PageText, matches: list[Match], kinds, patterns) -> list[list[Match]]:
    """For each OCR line, the matches in it with offsets local to the line.

    Lines are found in the page text in order; a line that is not there verbatim (text
    normalised differently) is searched on its own.
    """
    result: list[list[Match]] = []
    cursor = 0
    text = page.text or ""
    for line in page.lines:
        at = text.find(line.text, cursor) if line.text else -1
        if at < 0:
            result.append(find_matches(line.text, kinds, patterns))
            continue
        end = at + len(line.text)
        cursor = end
        result.append(
            [
                replace(m, start=max(m.start, at) - at, end=min(m.end, end) - at)
                for m in matches
                if m.start < end and at < m.end
            ]
        )
    return result


def _redacted_page(
    page: PageText, matches: list[Match], kinds, patterns, replacement: str
) -> PageText:
    """The page with its text and its OCR lines' text redacted (for the next steps)."""
    local_matches = _line_matches(page, matches, kinds, patterns)
    lines = [
        replace(line, text=redact_text(line.text, local, replacement))
        for line, local in zip(page.lines, local_matches, strict=True)
    ]
    return replace(page, text=redact_text(page.text or "", matches, replacement), lines=lines)


def _ocr_boxes(
    page: PageText, matches: list[Match], kinds, patterns, size: tuple[int, int]
) -> list[tuple[float, float, float, float]]:
    """Pixel boxes over the matched part of each OCR line, scaled to an image of ``size``.

    The horizontal span is estimated from character offsets (glyphs are about equally wide);
    half a character of margin on each side covers the error.
    """
    if not page.lines:
        return []
    sx = size[0] / page.width if page.width else 1.0
    sy = size[1] / page.height if page.height else 1.0
    boxes = []
    for line, local in zip(page.lines, _line_matches(page, matches, kinds, patterns), strict=True):
        if not local or not line.text:
            continue
        x0, y0, x1, y1 = line.box
        per_char = (x1 - x0) / len(line.text)
        for m in local:
            left = x0 + per_char * (m.start - 0.5)
            right = x0 + per_char * (m.end + 0.5)
            boxes.append((max(left, x0) * sx, (y0 - 2) * sy, min(right, x1) * sx, (y1 + 2) * sy))
    return boxes


# --- artefacts ------------------------------------------------------------------------------


def _artifacts(
    context: StepContext,
    by_page: dict[int, list[Match]],
    kinds: list[str],
    patterns: list,
    warnings: list[str],
) -> list[dict]:
    save = context.services.save_artifact
    is_pdf = context.document.kind == "pdf"
    has_lines = any(page.lines for page in context.pages)
    if not is_pdf and not has_lines:
        return []
    stem = _safe_stem(context.document.name)
    if is_pdf:
        if not context.document.path:
            warnings.append("No redacted PDF was made: the original file is not available.")
            return []
        data = redacted_pdf(context.document.path, context.pages, by_page, kinds, patterns)
        ref = save(f"{stem}-redacted.pdf", data, "application/pdf")
        return [{"name": f"{stem}-redacted.pdf", "content_type": "application/pdf", "ref": ref}]
    return _page_image_artifacts(context, by_page, kinds, patterns, stem, save, warnings)


def _page_image_artifacts(context, by_page, kinds, patterns, stem, save, warnings) -> list[dict]:
    page_image = context.services.page_image
    artifacts = []
    for page in context.pages:
        if not page.lines:
            continue
        image = page_image(page.number)
        if image is None:
            warnings.append(f"Page {page.number}: no image to redact.")
            continue
        image = image.convert("RGB")
        _paint(image, _ocr_boxes(page, by_page[page.number], kinds, patterns, image.size))
        name = f"{stem}-page-{page.number}-redacted.png"
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        ref = save(name, buffer.getvalue(), "image/png")
        artifacts.append({"name": name, "content_type": "image/png", "ref": ref})
    return artifacts


def _paint(image: Any, boxes: Iterable[tuple[float, float, float, float]]) -> None:
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((round(x0), round(y0), round(x1), round(y1)), fill=BOX)


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name or "document").stem).strip("-.")
    return stem[:80] or "document"


def redacted_pdf(
    path: str,
    pages: Sequence[PageText],
    by_page: dict[int, list[Match]],
    kinds: Sequence[str] = BUILTIN_KINDS,
    patterns: Sequence[tuple[str, regex.Pattern[str]]] = (),
    dpi: int = RENDER_DPI,
) -> bytes:
    """An image-only PDF of ``path`` with black boxes over every match.

    Matches in the PDF's text layer are boxed with the characters' own boxes (drawn into the
    page before rendering, so rotation and crop boxes are handled by pdfium); matches on
    OCR'd pages are boxed from their OCR lines. No text survives: the pages are pictures.
    """
    import pypdfium2 as pdfium

    by_number = {page.number: page for page in pages}
    pdf = pdfium.PdfDocument(path)
    out = io.BytesIO()
    batch: list[Any] = []
    written = False
    try:
        for index in range(len(pdf)):
            batch.append(_render_redacted(pdf, index, by_number, by_page, kinds, patterns, dpi))
            if len(batch) == PDF_PAGES_PER_WRITE:
                _write_pdf_pages(out, batch, dpi, append=written)
                written, batch = True, []
        if batch or not written:
            _write_pdf_pages(out, batch, dpi, append=written)
    finally:
        pdf.close()
    return out.getvalue()


def _render_redacted(pdf, index, by_number, by_page, kinds, patterns, dpi) -> Any:
    page = pdf[index]
    try:
        for rect in _text_layer_rects(page, kinds, patterns):
            _insert_black_rect(page, rect)
        image = page.render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        page.close()
    page_text = by_number.get(index + 1)
    if page_text is not None:
        matches = by_page.get(page_text.number, [])
        _paint(image, _ocr_boxes(page_text, matches, kinds, patterns, image.size))
    return image


def _text_layer_rects(page: Any, kinds, patterns) -> list[tuple[float, float, float, float]]:
    """(left, bottom, right, top) in PDF points of each matched character run."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        rects = []
        for match in find_matches(text, kinds, patterns):
            # Loose boxes span the font's full height, so accents and descenders are covered.
            boxes = [
                textpage.get_charbox(i, loose=True)
                for i in range(match.start, min(match.end, count))
                if not text[i].isspace()
            ]
            rects.extend(_merge_char_boxes(boxes))
        return rects
    finally:
        textpage.close()


def _merge_char_boxes(boxes: list[tuple[float, float, float, float]]) -> list[tuple]:
    """Character boxes joined into one box per text line, with a point of margin."""
    lines: list[list[float]] = []
    for left, bottom, right, top in boxes:
        last = lines[-1] if lines else None
        if last and bottom <= last[3] and top >= last[1]:  # overlaps the line vertically
            last[0], last[1] = min(last[0], left), min(last[1], bottom)
            last[2], last[3] = max(last[2], right), max(last[3], top)
        else:
            lines.append([left, bottom, right, top])
    return [(x0 - 1, y0 - 1, x1 + 1, y1 + 1) for x0, y0, x1, y1 in lines]


def _insert_black_rect(page: Any, rect: tuple[float, float, float, float]) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    left, bottom, right, top = rect
    handle = raw.FPDFPageObj_CreateNewRect(left, bottom, right - left, top - bottom)
    raw.FPDFPageObj_SetFillColor(handle, 0, 0, 0, 255)
    raw.FPDFPath_SetDrawMode(handle, raw.FPDF_FILLMODE_WINDING, False)
    page.insert_obj(pdfium.PdfObject(handle))


def _write_pdf_pages(out: io.BytesIO, images: list[Any], dpi: int, append: bool) -> None:
    """Add ``images`` as pages; Pillow appends to an existing PDF so that only a few
    rendered pages are in memory at a time."""
    from PIL import Image

    if not images:
        images = [Image.new("RGB", (int(8.27 * dpi), int(11.69 * dpi)), "white")]
    out.seek(0)
    first, rest = images[0], images[1:]
    first.save(out, "PDF", save_all=True, append_images=rest, resolution=dpi, append=append)
