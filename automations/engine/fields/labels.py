"""Labels that announce a field, in the languages Pyq's customers' documents use
(English, French, German, Dutch, Polish, Malay), written to survive OCR that drops spaces
("TOTAL(RM)", "RounddTotal") or misreads a letter ("T0TAL")."""

from __future__ import annotations

import re

__all__ = ["compile_labels"]

Labels = list[tuple[re.Pattern[str], float]]


def compile_labels(entries: list[tuple[str, float]]) -> Labels:
    return [(re.compile(p, re.IGNORECASE), w) for p, w in entries]


def _rx(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# "total" as OCR reads it: T0TAL, TOTAI, Tota|, Tatal.
TOTAL_WORD = r"[tly7][o0a]t[a4][l1i|]"
_NO = r"(?:n[o0°º]\b\.?|nr\b\.?|num\b\.?|number|nummer|#)"

INVOICE_NUMBER = compile_labels(
    [
        (rf"\binv(?:oice)?\s*{_NO}", 1.0),
        (r"\binvoice\s*id\b", 1.0),
        (rf"\btax\s*invoice\s*{_NO}", 1.0),
        (r"\bfacture\s*(?:n[°º]|no\b\.?|num[ée]ro\b)", 1.0),
        (r"\bnum[ée]ro\s+de\s+(?:la\s+)?facture\b", 1.0),
        (r"\brechnungs?\s*-?\s*(?:nummer|nr\b\.?|no\b\.?)", 1.0),
        (r"\bfactuur\s*-?\s*(?:nummer|nr\b\.?|no\b\.?)", 1.0),
        (r"\bfaktur[ay]?\s*(?:vat\s*)?(?:nr\b\.?|numer\b|no\b\.?)", 1.0),
        (r"\bnumer\s+faktury\b", 1.0),
        (r"\b(?:fattura|factura)\s*(?:n[°º.]|no\b|num[ée]ro)", 1.0),
        (rf"\b(?:bill|receipt|cash\s*bill|document|doc)\s*{_NO}", 0.85),
        (r"\bbooking\s*(?:id|no\b\.?|number|ref(?:erence)?)", 0.6),
        (
            r"\b(?:invoice|facture|factuur|rechnung|faktura|fattura|factura)\b"
            r"(?!\s*(?:date|datum|data|du\b|totaal|total|adres|address))",
            0.6,
        ),
    ]
)

INVOICE_DATE = compile_labels(
    [
        (r"\binvoice\s*date\b|\bdate\s*of\s*(?:invoice|issue)\b|\bissue\s*date\b", 1.0),
        (r"\b(?:billing|bill|tax\s*point|receipt)\s*date\b", 0.95),
        (r"\bdate\s*(?:de\s*(?:la\s*)?)?(?:facture|facturation|[ée]mission)\b", 1.0),
        (r"\brechnungs\s*-?\s*datum\b|\bdatum\s*der\s*rechnung\b", 1.0),
        (r"\bfactuur\s*-?\s*datum\b", 1.0),
        (r"\bdata\s*(?:wystawienia|faktury)\b", 1.0),
        (r"\b(?:date|datum|data|fecha|tarikh|dated)\b", 0.8),
    ]
)

# Dates that are not the document's date.
OTHER_DATE = compile_labels(
    [
        (
            r"\b(?:due|payment|pay\s*by|order|delivery|ship(?:ping)?|expiry|exp|valid|"
            r"print(?:ed)?|check\s*-?\s*(?:in|out)|start|end|closed)\s*-?\s*dat(?:e|um)\b",
            1.0,
        ),
        (r"\bdue\b|\bpayable\s*by\b|\bexpir", 1.0),
        (r"\b(?:order|lever|verval|bestel)\s*datum\b|\bvervaldatum\b|\borderdatum\b", 1.0),
        (r"\b(?:liefer|f[äa]lligkeits|bestell|leistungs)\s*datum\b|\bf[äa]llig\b", 1.0),
        (r"\bzahlungsziel\b|\bdate\s*limite\b|\b[ée]ch[ée]ance\b|\blivraison\b", 1.0),
        (r"\btermin\s*p[łl]atno[śs]ci\b|\bdata\s*(?:sprzeda[żz]y|dostawy)\b", 1.0),
        (r"\bcheck\s*(?:in|out)\b|\bperiod\b|\bp[ée]riode\b|\bzeitraum\b", 1.0),
    ]
)

DUE_DATE = compile_labels(
    [
        (r"\bdue\s*date\b|\bpayment\s*due\b|\bdue\s*(?:on|by)\b|\bpay\s*by\b", 1.0),
        (r"\bdate\s*(?:limite|d['’]\s*[ée]ch[ée]ance)\b|\b[ée]ch[ée]ance\b", 1.0),
        (r"\bf[äa]llig(?:keitsdatum|\s*am)?\b|\bzahlungsziel\b|\bzahlbar\s*bis\b", 1.0),
        (r"\bvervaldatum\b|\bvervaldag\b|\bte\s*betalen\s*voor\b", 1.0),
        (r"\btermin\s*p[łl]atno[śs]ci\b", 1.0),
        (r"\bdue\b", 0.7),
    ]
)

TOTAL_STRONG = _rx(
    r"grand\s*-?\s*" + TOTAL_WORD,
    r"round(?:ed|d|ing)?\s*" + TOTAL_WORD,
    TOTAL_WORD + r"\s*(?:amt\s*)?round(?:ed)?",
    r"net+\s*" + TOTAL_WORD,
    TOTAL_WORD + r"\s*(?:amount|amt)\s*(?:due|payable)?",
    TOTAL_WORD + r"\s*(?:due|payable|to\s*pay|for\s*this\s*invoice)",
    TOTAL_WORD + r"\s*\(?\s*(?:rm|myr|eur|usd)\s*\)?",
    TOTAL_WORD + r"\s*(?:sales\s*)?\(?\s*incl",
    r"invoice\s*" + TOTAL_WORD,
    r"amount\s*(?:due|payable|to\s*pay)",
    r"balance\s*due",
    r"total\s*(?:ttc|t\.t\.c\.?)",
    r"montant\s*(?:total\s*)?ttc",
    r"(?:net|somme|total|montant)\s*[àa]\s*payer",
    r"gesamt\s*-?\s*(?:betrag|summe)",
    r"(?:rechnungs|end|zahl)\s*betrag",
    r"zu\s*zahlen",
    r"totaal\s*-?\s*bedrag",
    r"(?:totaal\s*)?te\s*betalen",
    r"factuur\s*totaal",
    r"do\s*zap[łl]aty",
    r"nale[żz]no[śs][ćc]\s*og[óo][łl]em",
    r"kwota\s*do\s*zap[łl]aty",
    r"jumlah\s*(?:besar|bayaran)?",
)
TOTAL_PLAIN = _rx(TOTAL_WORD, r"totaal", r"summe", r"gesamt", r"razem", r"suma", r"totale")
TOTAL = compile_labels([(TOTAL_STRONG, 1.0), (TOTAL_PLAIN, 0.8)])
# Context that turns a "total" into something else: sub-totals, counts, tax, net amounts.
NOT_TOTAL = re.compile(
    r"sub\W?\s*-?\s*t[o0a]t|subtota|zwischen|"
    + TOTAL_WORD
    + r"\s*[:.]?\s*(?:qty|quantity|item|no\.?\s*of|tax|gst|vat|tva|btw|mwst|disc|"
    r"excl|exkl|saving|point|weight|tender|number|units|pcs|ht\b|h\.t|hors|net\b|netto)"
    r"|\(?\s*exclu|exclusief|exkl|hors\s*tax|ohne\s*mwst|w\s*tym|netto\b",
    re.IGNORECASE,
)

SUBTOTAL = compile_labels(
    [
        (r"sub\s*-?\s*" + TOTAL_WORD + r"|subtotaal|zwischensumme", 1.0),
        (TOTAL_WORD + r"\s*(?:ht|h\.t\.?|hors\s*taxes?|excl\w*|exkl\w*|net)\b", 1.0),
        (r"\bmontant\s*ht\b|\bnetto\s*-?\s*betrag\b|\bexclusief\s*btw\b|\bnet\s*amount\b", 0.9),
        (r"\b" + TOTAL_WORD + r"\s*sales\s*\(?\s*exclu\w*", 0.9),
        (r"\bwarto[śs][ćc]\s*netto\b|\brazem\s*netto\b", 0.9),
    ]
)

TAX = compile_labels(
    [
        (
            r"\b(?:total\s*)?(?:tax|vat|tva|btw|mwst|ust|gst|sst|iva)\b\s*(?:amount|amt)?"
            r"(?:\s*\(?\s*rm\s*\)?)?",
            0.9,
        ),
        (r"\bkwota\s*vat\b|\bmontant\s*tva\b|\bbtw\s*bedrag\b|\bsteuer\b", 1.0),
    ]
)
NOT_TAX = re.compile(
    r"(?:gst|vat|tax|btw|tva|mwst|ust)\s*(?:reg|id|no\b|nr\b|number|summary|code|invoice|"
    r"nummer|num[ée]ro|intra|identification)|incl\w*\.?\s*(?:of\s*)?(?:\d+\s*%?\s*)?(?:gst|vat|tax|btw)|"
    r"(?:excl|exkl)\w*\.?\s*(?:of\s*)?(?:\d+\s*%?\s*)?(?:gst|vat|tax|btw)|tax\s*invoice|uw\s*btw|"
    r"(?:gst|tax|vat|btw)\s*%|[śs]\s*vat|tax\s*\(\s*%|\bnip\b",
    re.IGNORECASE,
)

# Lines about the money handed over rather than the amount due.
PAYMENT = re.compile(
    r"\b(?:cash|tunai|tender(?:ed)?|paid|payment|bayar|card|visa|master|credit|debit|"
    r"received|amex|e-?wallet|boost|grab\s*pay|touch\s*n\s*go)|ca[s$]h",
    re.IGNORECASE,
)
CHANGE = re.compile(r"\b(?:change|chang|baki|kembali)", re.IGNORECASE)
ROUNDING = re.compile(r"round(?:ing)?\s*(?:adj|adjustment)?|rounding", re.IGNORECASE)

VENDOR_LABEL = compile_labels(
    [
        (
            r"\b(?:seller|vendor|supplier|sold\s*by|service\s*provider|issued\s*by|"
            r"payable\s*to|remit\s*to|bill\s*from)\b\s*:?",
            0.8,
        ),
        (r"\b(?:verk[äa]ufer|lieferant|rechnungssteller)\b\s*:?", 0.8),
        (r"\b(?:vendeur|fournisseur|[ée]metteur|prestataire)\b\s*:?", 0.8),
        (r"\b(?:leverancier|verkoper)\b\s*:?", 0.8),
        (r"\b(?:sprzedawca|wystawca)\b\s*:?", 0.8),
    ]
)
CUSTOMER_LABEL = re.compile(
    r"\b(?:bill(?:ed)?\s*to|ship(?:ped)?\s*to|sold\s*to|deliver\s*to|customer|client|"
    r"buyer|attn|guest\s*name|shipping\s*address|billing\s*address|"
    r"kunde|rechnungsempf|lieferadresse|klant|factuuradres|afleveradres|destinataire|"
    r"adresse\s*de\s*(?:facturation|livraison)|nabywca|odbiorca)",
    re.IGNORECASE,
)
