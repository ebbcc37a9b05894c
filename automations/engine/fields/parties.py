"""Who issued the document and where: the vendor's name and address.

Receipts put the shop's name at the top (often ending in "SDN BHD" in Malaysia), then
its registration number, then the address lines; invoices name the seller with a legal
form ("GmbH", "B.V.", "Inc.") or after a label ("Seller:", "Sprzedawca:"), and also
name the customer, whose block must be skipped.
"""

from __future__ import annotations

import re
import unicodedata

from automations.engine.fields import labels as lb
from automations.engine.fields import normalize as nz
from automations.engine.fields.document import Document, Line
from automations.engine.fields.model import FieldResult
from automations.engine.fields.search import (
    Candidate,
    best,
    find_labels,
    find_text_value,
    result_from,
    values_after,
)

__all__ = ["address_after", "find_vendor"]

GENERIC_DOMAINS = frozenset(
    "gmail yahoo hotmail outlook example fake live icloud mail googlemail gmx".split()
)
LEGAL_FORM = re.compile(
    r"sdn\.?\s*-?\s*bhd|\bbhd\b|\bs/b\b|\bplt\b|\bltd\b|\blimited\b|\binc\b\.?|\bllc\b|"
    r"\bcorp(?:oration)?\b|\bgmbh\b|\bag\b|\bkg\b|\bb\.\s?v\.?|\bn\.\s?v\.?|\bs\.\s?a\.?(?!\w)|"
    r"\bsas\b|\bsarl\b|\bs\.?r\.?l\b|\bspa\b|\bs\.p\.a\b|\bsp\.\s*z\s*o\.?\s*o\b|"
    r"sp[óo][łl]ka|\bpvt\b|\bprivate\s+limited\b|\bco\.?\s*$|\bcompany\b|\bplc\b|\boy\b|\bab\b",
    re.IGNORECASE,
)
TRADE_WORD = re.compile(
    r"enterprise|trading|restaurant|restoran|hardware|\bmart\b|market|\bstore|\bshop\b|"
    r"bakery|pharmacy|farmasi|stationery|\bbooks?\b|\bcaf[eé]\b|kedai|perniagaan|"
    r"electrical|machinery|motor|petro|supermarket|hypermarket|\bfood|bistro|gallery|"
    r"\bpub\b|\bdeli|kitchen|station|services|industries|holdings|international|"
    r"\bgroup\b|marketing|electronic|furniture|bookstore|\bhotel\b|\btrading\b|"
    r"\bsdn\b|\bbhd\b",
    re.IGNORECASE,
)
NOT_NAME = re.compile(
    r"\btel\b|\bfax\b|phone|\bgst\b|\bsst\b|\breg\b|\broc\b|company\s*no|"
    r"tax\s*invoice|\binvoice\b|receipt|\bbill\b|cashier|\bdate\b|\btime\b|"
    r"welcome|thank|www\.|@|http|\w\.(?:com|my|net|org)\b|\bpage\b|licensee|formerly|"
    r"tarikh|\bvat\b|"
    r"\bjalan\b|\bjln\b|\btaman\b|\blot\b|\bno\s*[.:]?\s*\d",
    re.IGNORECASE,
)
# Address words: long ones also match inside run-together OCR text ("JALANKPB6").
ADDRESS_WORD = re.compile(
    r"jalan|\bjln\b|lorong|taman|\btmn\b|bandar|kawasan|perindustrian|kampung|"
    r"bangunan|wisma|plaza|kompleks|complex|seksyen|persiaran|lebuhraya|floor|tingkat|"
    r"boulevard|avenue|street|stra(?:ss|ß)e|straat|"
    r"[^\W\d_]{3,}(?:str\.|weg|laan|gasse|platz|plein|gracht|kade|singel|dreef)(?!\w)|"
    r"^[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_]+)*\s\d{1,4}[a-z]?\s*$|"
    r"\b(?:lot|level|lvl|flr|block|blok|mall|section|lebuh|pusat|centre|center|batu|"
    r"st|road|rd|ave|lane|drive|blvd|suite|building|rue|chemin|str|weg|platz|gasse|laan|"
    r"plein|ulica|ul|aleja|al)\b\.?|\bno\s*[.:]?\s*\d|\d+\s*,",
    re.IGNORECASE,
)
REGION = re.compile(
    r"johor|selangor|kuala\s*lumpur|\bkl\b|\bperak\b|penang|pulau\s*pinang|kedah|"
    r"melaka|malacca|negeri\s*sembilan|pahang|terengganu|kelantan|\bsabah|sarawak|"
    r"putrajaya|labuan|perlis|malaysia|darul\s*(?:ehsan|takzim)|\bd\.\s?e\b\.?|"
    r"shah\s*alam|petaling|klang|puchong|cheras|subang|ampang|seri\s*kembangan|kajang|"
    r"singapore|united\s*states|germany|deutschland|france|nederland|netherlands|"
    r"polska|poland|india|hong\s*kong|\busa\b|\buk\b",
    re.IGNORECASE,
)
POSTCODE = re.compile(
    r"(?<![\d-])\d{5}(?![\d-])|\b\d{4}\s?[A-Z]{2}\b|\b\d{2}-\d{3}\b|\b[A-Z]-\d{4,5}\b|"
    r"\b[A-Z]{2}\s\d{5}\b"
)
REGISTRATION = re.compile(
    r"^\W*(?:co\.?\s*reg\w*|company\s*(?:no|reg)\w*|roc|reg)?\W*[A-Z]{0,3}\s*[\dO]{4,}"
    r"[\s-]?[A-Z]?\W*$|\(?\s*co\.?\s*r[e]?[gf]|\bc[o0][nm]?[mp]any\s*(?:no|reg)|"
    r"\broc\s*no|\bco\.?\s*no\b|\breg\.?\s*no|\bbr\s*no",
    re.IGNORECASE,
)
STOP_ADDRESS = re.compile(
    r"\bt[e3]l(?=\W|\d|$)|\bfax|phone|\bh/?p\b|\bgst|\bsst\b|tax\s*invoice|taxinv|"
    r"invoice|receipt|\bcashier\b|\bdate\b|@|www\.|http|\bemail\b|\bvat\b|\bbtw\b|"
    r"\bkvk\b|\biban\b|\bcompany\s*no|\breg\b",
    re.IGNORECASE,
)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


# A registration number printed after the name: "(126926-H)", "519537-X", "1110644-W".
_REG_SUFFIX = re.compile(r"[\s(]*[A-Z0-9]{0,4}\d{5,}\s*[-·.]?\s*[A-Z]\s*\)?\s*$", re.IGNORECASE)
# "Dimiliki: BANH MI CAFE SDN BHD", "Owned by: ...": the name is after the colon.
_NAME_PREFIX = re.compile(r"^[^:]{2,20}:\s*(?=\S)")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip(" :;-|*~_=")


def _clean_name(text: str) -> str:
    text = _clean(text)
    prefix = _NAME_PREFIX.match(text)
    if prefix and LEGAL_FORM.search(text[prefix.end() :]):
        text = text[prefix.end() :]
    stripped = _REG_SUFFIX.sub("", text)
    if _letters(stripped) >= 3:
        text = stripped
    return _clean(text)


def _squash(text: str) -> str:
    return re.sub(r"\W", "", text).lower()


def _only_legal_form(text: str) -> bool:
    """ "SDN BHD", "CO. (M) SDN BHD", "RESTAURANT SDN BHD": the name is on the line above."""
    core = LEGAL_FORM.sub(" ", _clean(text))
    core = re.sub(r"\(\s*m\s*\)|\bco\b\.?|[^\w\s]", " ", core, flags=re.IGNORECASE)
    words = [w for w in core.split() if len(w) >= 3 and not TRADE_WORD.fullmatch(w)]
    return not words


# ----------------------------------------------------------------------------- vendor


def _name_score(line: Line, position: int) -> float:
    text = _clean_name(line.text)
    letters = _letters(text)
    if letters < 3:
        return 0.0
    if NOT_NAME.search(text) and not LEGAL_FORM.search(text):
        return 0.0
    if nz.find_dates(text) or REGISTRATION.search(text):
        return 0.0
    score = 0.35
    if LEGAL_FORM.search(text):
        score += 0.45
    elif TRADE_WORD.search(text):
        score += 0.3
    upper = sum(ch.isupper() for ch in text)
    if upper >= 0.7 * letters:
        score += 0.1
    elif text == text.lower() and not LEGAL_FORM.search(text):
        score -= 0.3  # handwriting-like annotations, sentences
    if _digits(text) > 0.3 * len(text.replace(" ", "")):
        score -= 0.3
    if ADDRESS_WORD.search(text) or POSTCODE.search(text):
        score -= 0.25
    if len(text) > 60:
        score -= 0.2
    if letters < 5:
        score -= 0.15
    return score - 0.035 * position


def _extend_name(doc: Document, lines: list[Line], i: int) -> tuple[int, int]:
    """A shop name may run over two lines: "AIK HUAT HARDWARE ENTERPRISE" +
    "(SETIA ALAM) SDN BHD", or "HOME MASTER HARDWARE &" + "ELECTRICAL"."""
    first, last = i, i
    text = lines[i].text.strip()
    if i > 0 and _only_legal_form(text):
        prev = lines[i - 1]
        if _name_score(prev, 0) > 0.2 and not LEGAL_FORM.search(prev.text):
            first = i - 1
    if i + 1 < len(lines):
        nxt = lines[i + 1].text.strip()
        nxt_is_form = bool(LEGAL_FORM.search(nxt)) and not LEGAL_FORM.search(text)
        if (
            (text.endswith("&") or nxt_is_form)
            and _letters(nxt) >= 3
            and not NOT_NAME.search(nxt)
            and not ADDRESS_WORD.search(nxt)
            and not POSTCODE.search(nxt)
            and not nz.find_dates(nxt)
        ):
            if _squash(_clean_name(text)) in _squash(_clean_name(nxt)):
                first = i + 1  # "Banh Mi Cafe" then "banh mi cafe sdn bhd": the full name
            last = i + 1
    return first, last


def _blank_line_before(doc: Document, line: Line) -> bool:
    if line.index == 0:
        return False
    prev = doc.lines[line.index - 1]
    if prev.page != line.page:
        return True
    return doc.page_text(line.page)[prev.end : line.start].count("\n") > 1


def _receipt_vendor(doc: Document) -> tuple[Candidate | None, list[Line]]:
    top = [ln for ln in doc.lines if ln.page == doc.lines[0].page][:14] if doc.lines else []
    scored = [(_name_score(ln, pos), pos) for pos, ln in enumerate(top)]
    scored = [(s, p) for s, p in scored if s > 0.2]
    if not scored:
        return None, []
    score, pos = max(scored, key=lambda t: (t[0], -t[1]))
    first, last = _extend_name(doc, top, pos)
    chosen = top[first : last + 1]
    value = _clean_name(" ".join(ln.text for ln in chosen))
    cand = Candidate(value, chosen[0], 0, len(chosen[0].text), min(score + 0.08, 0.97))
    cand.data = chosen
    return cand, chosen


def _invoice_vendor(doc: Document) -> tuple[Candidate | None, list[Line]]:
    customer_zone: set[int] = set()
    for line in doc.lines:
        if lb.CUSTOMER_LABEL.search(line.text):
            # The customer's block runs until a blank line (at most 4 lines).
            for nxt in doc.lines[line.index : line.index + 5]:
                if nxt is not line and _blank_line_before(doc, nxt):
                    break
                customer_zone.add(nxt.index)
    candidates: list[Candidate] = []
    for hit in find_labels(doc, lb.VENDOR_LABEL):
        values = values_after(doc, hit, find_text_value, rows_below=1)
        if values:
            line, found, where = values[0]
            value = _clean(found.value)
            if _letters(value) >= 2:
                candidates.append(
                    Candidate(value, line, found.start, found.end, 0.75, ["label", where])
                )
    full_text = _squash(doc.text)
    # The seller's own web site or e-mail domain usually spells its name.
    domains = {
        d
        for d in re.findall(r"(?:@|www\.|https?://)([a-z0-9-]{4,})\.", doc.text.lower())
        if d not in GENERIC_DOMAINS
    }
    for line in doc.lines:
        text = _clean(line.text)
        if line.index in customer_zone or _letters(text) < 3:
            continue
        form = LEGAL_FORM.search(text)
        if not form:
            continue
        # The name is what comes before the legal form's end ("Coolblue B.V.").
        name = _clean(text[: form.end()])
        if len(name) > 60 or NOT_NAME.search(name) or ADDRESS_WORD.search(name):
            continue
        if _letters(name) < 3 or _only_legal_form(name):
            continue
        mentions = full_text.count(_squash(name))
        score = 0.5 + 0.05 * min(mentions, 4) - 0.004 * line.index
        if any(d.replace("-", "") in _squash(name) for d in domains):
            score += 0.15
        start = line.text.find(name)
        candidates.append(
            Candidate(name, line, max(start, 0), max(start, 0) + len(name), score, ["legal form"])
        )
    chosen = best(candidates)
    if chosen is None:
        for pos, line in enumerate(doc.lines[:10]):
            if line.index in customer_zone:
                continue
            if _name_score(line, pos) > 0.35:
                text = _clean(line.text)
                start = max(line.text.find(text), 0)
                chosen = Candidate(text, line, start, start + len(text), 0.3, ["first line"])
                break
    if chosen is None:
        return None, []
    return chosen, [chosen.line]


def find_vendor(doc: Document, *, receipt: bool) -> tuple[FieldResult, list[Line]]:
    cand, lines = _receipt_vendor(doc) if receipt else _invoice_vendor(doc)
    if cand is None:
        return FieldResult(value=None, confidence=0.0, evidence=None), []
    result = result_from(doc, cand)
    if len(lines) > 1:
        result.evidence = doc.evidence_lines(lines)
    return result, lines


# ---------------------------------------------------------------------------- address


def _address_like(text: str) -> bool:
    return bool(ADDRESS_WORD.search(text) or POSTCODE.search(text) or REGION.search(text))


def address_after(doc: Document, name_lines: list[Line], *, max_lines: int = 6) -> FieldResult:
    """The address block: the lines after the name up to the first phone, tax-number,
    title or date line, without the registration numbers and notes ("formerly known
    as ...") before the first address-like line, nor what trails after the last one."""
    if not doc.lines:
        return FieldResult(value=None, confidence=0.0, evidence=None)
    start = name_lines[-1].index + 1 if name_lines else 0
    page = name_lines[-1].page if name_lines else doc.lines[0].page
    block: list[Line] = []
    skipped = 0
    for line in doc.lines[start : start + 14]:
        text = line.text.strip()
        if line.page != page:
            break
        registration = REGISTRATION.search(text) and not re.search(
            r"jalan|\bjln\b|taman|\blot\b", text, re.IGNORECASE
        )
        stop = (
            STOP_ADDRESS.search(text)
            or re.search(r"\d[.,]\d{2}(?!\d)", text)  # an amount: the table has begun
            or _letters(text) == 0
            or (nz.find_dates(text) and not POSTCODE.search(text))
        )
        if block and (stop or registration):
            break
        if not block and (stop or registration or not _address_like(text)):
            # Registration numbers, "formerly known as", a second name, a title.
            skipped += 1
            if skipped > 5:
                break
            continue
        block.append(line)
        if len(block) >= max_lines + 2:
            break
    # Drop what trails the last address-like line, but keep a branch name in brackets:
    # "(MR DIY TESCO TERBAU)".
    while block and not _address_like(block[-1].text):
        text = block[-1].text.strip()
        wordy = _letters(text) >= 0.75 * len(re.sub(r"\s", "", text)) and len(text) <= 40
        if len(block) > 1 and (wordy or re.fullmatch(r"\([^)\d]{3,}\)", text)):
            break  # "DAMANSARA UTAMA", "(MR DIY TESCO TERBAU)": the area or the branch
        block.pop()
    block = block[:max_lines]
    if not block:
        return FieldResult(value=None, confidence=0.0, evidence=None)
    cues = sum(
        bool(ADDRESS_WORD.search(ln.text)) + bool(POSTCODE.search(ln.text))
        + bool(REGION.search(ln.text))
        for ln in block
    )  # fmt: skip
    value = _clean(" ".join(ln.text.strip() for ln in block))
    score = 0.4 + min(cues, 4) * 0.1 + (0.05 if len(block) >= 2 else 0.0)
    cand = Candidate(value, block[0], 0, len(block[0].text), score)
    result = result_from(doc, cand)
    result.evidence = doc.evidence_lines(block)
    ocr = [c for c in (ln.confidence() for ln in block) if c is not None]
    if ocr:
        mean = sum(ocr) / len(ocr)
        result.confidence = round(max(0.01, min(0.99, score * (0.55 + 0.45 * mean / 0.95))), 3)
    return result
