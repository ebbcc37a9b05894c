"""The extract_fields engine: normalisers, presets on written text, on a rendered receipt
read by real OCR and on a generated invoice PDF, custom fields, and bad field specs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from automations.engine.fields import (
    FIELD_TYPES,
    PRESETS,
    ExtractionResult,
    FieldSpec,
    FieldSpecError,
    PageText,
    extract_fields,
    parse_field_specs,
    to_json,
)
from automations.engine.fields.normalize import (
    detect_currency,
    find_amounts,
    find_ibans,
    iban_is_valid,
    normalize_email,
    normalize_number,
    normalize_phone,
    parse_date,
    parse_money,
)
from catalog.runtime.ocr import get_ocr_engine, tesseract_available
from tests.engine.fields_samples import (
    INVOICE_ROWS,
    pages_of,
    render_receipt,
    text_page,
    write_invoice_pdf,
)

needs_tesseract = pytest.mark.skipif(
    not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)"
)


def assert_evidence_points_at(result: ExtractionResult, pages: list[PageText], name: str, raw: str):
    field = result.fields[name]
    assert field.evidence is not None, name
    page = next(p for p in pages if p.number == field.evidence.page)
    span = page.text[field.evidence.start : field.evidence.end]
    assert span == field.evidence.text
    assert raw in span, f"{name}: {raw!r} not in {span!r}"


def assert_box_inside(result: ExtractionResult, pages: list[PageText], name: str):
    field = result.fields[name]
    assert field.evidence is not None, name
    assert field.evidence.box is not None, name
    page = next(p for p in pages if p.number == field.evidence.page)
    x0, y0, x1, y1 = field.evidence.box
    assert page.width is not None
    assert page.height is not None
    assert 0 <= x0 < x1 <= page.width
    assert 0 <= y0 < y1 <= page.height


# ----------------------------------------------------------------------------- normalisers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/12/2018", "2018-12-25"),
        ("25-12-18", "2018-12-25"),
        ("25.12.2018", "2018-12-25"),
        ("2021-01-01", "2021-01-01"),
        ("25 DEC 2018", "2018-12-25"),
        ("25DEC2018", "2018-12-25"),
        ("05 Mar 2018 18:24", "2018-03-05"),
        ("August 3 , 2014", "2014-08-03"),
        ("Jan 1, 2022", "2022-01-01"),
        ("December 25th, 2018", "2018-12-25"),
        ("02 Juillet 2015", "2015-07-02"),
        ("1er août 2015", "2015-08-01"),
        ("7. Mai 2014", "2014-05-07"),
        ("3. März 2024", "2024-03-03"),
        ("19 april 2014", "2014-04-19"),
        ("29 maart 2014", "2014-03-29"),
        ("12 stycznia 2021", "2021-01-12"),
        ("25/12/20188:13:39PM", "2018-12-25"),  # OCR that drops the space before the time
        ("20180304", "2018-03-04"),
    ],
)
def test_dates_in_many_formats_and_languages(text, expected):
    assert parse_date(text) == dt.date.fromisoformat(expected)


def test_ambiguous_dates_are_day_first_unless_impossible():
    assert parse_date("05/03/2018") == dt.date(2018, 3, 5)
    assert parse_date("05/03/2018", day_first=False) == dt.date(2018, 5, 3)
    assert parse_date("12/28/2017") == dt.date(2017, 12, 28)  # 28 cannot be a month
    assert parse_date("31/02/2018") is None
    assert parse_date("no date here") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("1 234,50", "1234.50"),
        ("€ 4.904,94", "4904.94"),
        ("RM 9.00", "9.00"),
        ("$8.20", "8.20"),
        ("56,02 €", "56.02"),
        ("-9,32", "-9.32"),
        ("1939", "1939"),
    ],
)
def test_money_with_thousands_separators_and_symbols(text, expected):
    assert parse_money(text) == Decimal(expected)


def test_amounts_carry_their_currency_symbol_or_code():
    found = {
        (a.raw, str(a.value), a.currency) for a in find_amounts("RM9.00 € 3,50 12.00 EUR Rs 1939")
    }
    assert found == {
        ("RM9.00", "9.00", "MYR"),
        ("€ 3,50", "3.50", "EUR"),
        ("12.00 EUR", "12.00", "EUR"),
        ("Rs 1939", "1939", "INR"),
    }
    assert detect_currency("Total: 12,00 €\nVAT 2,00 €")[0] == "EUR"
    assert detect_currency("TOTAL (RM) 9.00")[0] == "MYR"
    assert detect_currency("no money")[0] is None


def test_number_email_and_phone_normalisers():
    assert normalize_number("1.234,5") == "1234.5"
    assert normalize_number("12") == "12"
    assert normalize_number("3,00") == "3"
    assert normalize_email("Mail: Info@Example.COM.") == "info@example.com"
    assert normalize_phone("+60 7-350 7405") == "+6073507405"
    assert normalize_phone("(870)-931-0505") == "8709310505"
    assert normalize_phone("12") is None


def test_iban_checksum():
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert iban_is_valid("NL50INGB0683251309")
    assert not iban_is_valid("DE89 3704 0044 0532 0130 01")  # one digit off
    assert not iban_is_valid("US1234567890")
    found = find_ibans("IBAN : FR76 3000 6000 0112 3456 7890 189 - BIC : AGRIFRPP")
    assert [m.value for m in found] == ["FR7630006000011234567890189"]
    assert find_ibans("IBAN: DE89 3704 0044 0532 0130 01") == []


# ----------------------------------------------------------------------------- field specs


def test_parse_field_specs_accepts_valid_definitions():
    specs = parse_field_specs(
        [
            {"name": "po_number", "type": "text", "description": "Purchase order number"},
            {"name": "amount_due", "type": "money"},
            {"name": "notes"},
        ]
    )
    assert specs == [
        FieldSpec("po_number", "text", "Purchase order number"),
        FieldSpec("amount_due", "money", ""),
        FieldSpec("notes", "text", ""),
    ]


def test_unknown_field_type_is_refused_with_a_readable_message():
    with pytest.raises(FieldSpecError) as exc:
        parse_field_specs([{"name": "x", "type": "colour"}])
    assert str(exc.value) == (
        "Field 'x': unknown type 'colour'; use one of " + ", ".join(FIELD_TYPES) + "."
    )
    with pytest.raises(FieldSpecError, match="unknown type 'colour'"):
        extract_fields([text_page("x")], fields=[FieldSpec("x", "colour")])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"name": "total"}, {"name": "total", "type": "money"}], "defined twice"),
        ([{"name": ""}], "name is missing"),
        ([{"type": "text"}], "name is missing"),
        ([{"name": "PO Number"}], "lower-case letters"),
        (["total"], "expected a name"),
    ],
)
def test_bad_field_specs_are_refused(raw, message):
    with pytest.raises(FieldSpecError, match=message):
        parse_field_specs(raw)


def test_unknown_preset_is_refused():
    with pytest.raises(FieldSpecError, match="Unknown preset 'payslip'"):
        extract_fields([text_page("x")], preset="payslip")


@pytest.mark.parametrize("pages", [[], [text_page("")], [text_page("  \n\n ")]])
def test_empty_document_gives_every_field_none_with_confidence_zero(pages):
    result = extract_fields(
        pages, preset="invoice", fields=[FieldSpec("po_number", "text", "PO number")]
    )
    names = [spec.name for spec in PRESETS["invoice"]] + ["po_number"]
    assert list(result.fields) == names
    for field in result.fields.values():
        assert field.value is None
        assert field.confidence == 0.0
        assert field.evidence is None
    assert result.line_items == []
    assert result.warnings == ["The document has no text: nothing could be extracted."]


# ------------------------------------------------------------------- presets on plain text

RECEIPT_TEXT = """\
GOLDEN MART SDN. BHD.
(654321-K)
LOT 5, JALAN SS 2/24,
47300 PETALING JAYA, SELANGOR
TEL: 03-7876 1234
TAX INVOICE
Doc No: CS00998877     Date: 09-01-19 20:15
ITEM          QTY   PRICE   AMOUNT
MILK 1L        2    6.50    13.00
BREAD          1    4.20     4.20
SUB TOTAL                   17.20
TOTAL SALES (INCLUSIVE GST) 17.20
CASH                        50.00
CHANGE                      32.80
GST SUMMARY     AMOUNT     TAX
SR @ 6%         16.23      0.97
TOTAL:          16.23      0.97
"""


def test_receipt_preset_on_written_text():
    pages = [text_page(RECEIPT_TEXT)]

    result = extract_fields(pages, preset="receipt")

    values = {name: field.value for name, field in result.fields.items()}
    assert values == {
        "vendor": "GOLDEN MART SDN. BHD.",
        "address": "LOT 5, JALAN SS 2/24, 47300 PETALING JAYA, SELANGOR",
        "date": "2019-01-09",
        "total": "17.20",
        "tax": "0.97",
        "currency": None,
    }
    assert result.fields["total"].confidence >= 0.9  # labelled and equal to cash - change
    assert_evidence_points_at(result, pages, "total", "17.20")
    assert_evidence_points_at(result, pages, "date", "09-01-19")
    assert_evidence_points_at(result, pages, "vendor", "GOLDEN MART")
    assert result.fields["total"].evidence.box is None  # text, not OCR: no box
    assert result.fields["total"].evidence.start == RECEIPT_TEXT.index("17.20\nCASH")


INVOICE_TEXTS = {
    "fr": (
        "ALPHA CONSEIL SARL\n12 rue de la Paix\n75002 Paris\n"
        "Facture n° FA-2023-118\nDate : 3 février 2023\n"
        "Date limite de paiement : 5 mars 2023\n"
        "Total HT : 1 000,00 €\nTVA 20% : 200,00 €\nTotal TTC : 1 200,00 €\n"
    ),
    "de": (
        "Beispiel Software GmbH\nMusterweg 4, 80331 München\n"
        "Rechnungsnummer: RE-55012\nRechnungsdatum: 3. Februar 2023\n"
        "Zahlungsziel: 17.02.2023\nNettobetrag 1.000,00 EUR\nMwSt 19% 190,00 EUR\n"
        "Gesamtbetrag 1.190,00 EUR\n"
    ),
    "nl": (
        "Voorbeeld B.V.\nKerkstraat 1\n1017 GC Amsterdam\n"
        "Factuurnummer: 2023-0077\nFactuurdatum: 3 februari 2023\n"
        "Vervaldatum: 3 maart 2023\nSubtotaal € 1.000,00\nBTW 21% € 210,00\n"
        "Totaalbedrag € 1.210,00\n"
    ),
    "pl": (
        "Przykład Sp. z o.o.\nul. Długa 5, 00-950 Warszawa\n"
        "Faktura nr FV/12/2023\nData wystawienia: 2023-02-03\n"
        "Termin płatności: 2023-02-17\nRazem netto 1 000,00 PLN\n"
        "Do zapłaty: 1 230,00 PLN\n"
    ),
    "en": (
        "Acme Widgets Inc.\n500 Market Street, San Francisco, CA 94105\n"
        "Invoice Number: 10-4471\nInvoice Date: 02/03/2023\nDue Date: 03/05/2023\n"
        "Subtotal $1,000.00\nTax $80.00\nBalance Due $1,080.00\n"
    ),
}
EXPECTED_INVOICES = {
    "fr": ("FA-2023-118", "2023-02-03", "2023-03-05", "1200.00", "EUR"),
    "de": ("RE-55012", "2023-02-03", "2023-02-17", "1190.00", "EUR"),
    "nl": ("2023-0077", "2023-02-03", "2023-03-03", "1210.00", "EUR"),
    "pl": ("FV/12/2023", "2023-02-03", "2023-02-17", "1230.00", "PLN"),
    "en": ("10-4471", "2023-03-02", "2023-05-03", "1080.00", "USD"),
}


@pytest.mark.parametrize("language", sorted(INVOICE_TEXTS))
def test_invoice_preset_in_several_languages(language):
    pages = [text_page(INVOICE_TEXTS[language])]

    result = extract_fields(pages, preset="invoice")

    got = tuple(
        result.fields[name].value
        for name in ("invoice_number", "date", "due_date", "total", "currency")
    )
    assert got == EXPECTED_INVOICES[language]
    assert result.fields["total"].currency == EXPECTED_INVOICES[language][4]
    assert result.fields["invoice_number"].confidence >= 0.9
    assert_evidence_points_at(result, pages, "invoice_number", EXPECTED_INVOICES[language][0])


def test_vendor_of_an_invoice_is_the_issuer_not_the_customer():
    text = (
        "Bill to:\nContoso Ltd\n1 Main Street\n\nFabrikam GmbH\nIndustriestr. 7\n"
        "70565 Stuttgart\nInvoice No: 77\nTotal EUR 10,00\nwww.fabrikam.de\n"
    )
    result = extract_fields([text_page(text)], preset="invoice")
    assert result.fields["vendor"].value == "Fabrikam GmbH"
    assert result.fields["vendor_address"].value == "Industriestr. 7 70565 Stuttgart"


# --------------------------------------------------------------------------- custom fields


def test_custom_fields_find_their_label_and_typed_value():
    text = (
        "ACME SUPPLIES LTD\nPO No.: 4500012345\nCustomer ID: C-889\n"
        "Delivery date: 14/02/2024\nAmount due: 1.250,00 EUR\n"
        "Questions? support@acme.example.com or +44 20 7946 0958\n"
        "IBAN: GB82 WEST 1234 5698 7654 32\n"
    )
    specs = parse_field_specs(
        [
            {"name": "po_number", "type": "text", "description": "purchase order number"},
            {"name": "customer", "type": "text", "description": "customer id"},
            {"name": "delivery", "type": "date", "description": "delivery date"},
            {"name": "amount", "type": "money", "description": "amount due"},
            {"name": "contact", "type": "email"},
            {"name": "phone", "type": "phone"},
            {"name": "bank_account", "type": "iban", "description": "IBAN"},
            {"name": "vat_id", "type": "text", "description": "VAT registration number"},
        ]
    )
    pages = [text_page(text)]

    result = extract_fields(pages, fields=specs)

    values = {name: field.value for name, field in result.fields.items()}
    assert values == {
        "po_number": "4500012345",
        "customer": "C-889",
        "delivery": "2024-02-14",
        "amount": "1250.00",
        "contact": "support@acme.example.com",
        "phone": "+442079460958",
        "bank_account": "GB82WEST12345698765432",
        "vat_id": None,
    }
    assert result.fields["amount"].currency == "EUR"
    assert result.fields["vat_id"].confidence == 0.0
    # Labelled values are surer than a value taken because it is the only one of its type.
    assert result.fields["po_number"].confidence >= 0.8
    assert result.fields["contact"].confidence < result.fields["po_number"].confidence
    assert_evidence_points_at(result, pages, "po_number", "4500012345")
    assert_evidence_points_at(result, pages, "bank_account", "GB82 WEST 1234 5698 7654 32")
    assert "Not found: vat_id." in result.warnings


def test_custom_field_label_written_as_one_compound_word():
    text = "Beispiel GmbH\nKundennummer: K-4711\nRechnungsdatum: 01.02.2024\n"
    result = extract_fields(
        [text_page(text)],
        fields=[FieldSpec("customer_number"), FieldSpec("invoice_date", "date")],
    )
    assert result.fields["customer_number"].value == "K-4711"
    assert result.fields["invoice_date"].value == "2024-02-01"


def test_duplicate_custom_fields_are_refused():
    with pytest.raises(FieldSpecError, match="defined twice"):
        extract_fields([text_page("x")], fields=[FieldSpec("a"), FieldSpec("a", "date")])


def test_custom_iban_with_a_bad_checksum_is_not_returned():
    result = extract_fields(
        [text_page("IBAN: GB82 WEST 1234 5698 7654 33")],
        fields=[FieldSpec("iban", "iban")],
    )
    assert result.fields["iban"].value is None


def test_custom_field_value_on_the_line_below_its_label():
    text = "Order reference\nXK-2231\nShipping method\nExpress"
    result = extract_fields(
        [text_page(text)], fields=[FieldSpec("order_ref", "text", "order reference")]
    )
    assert result.fields["order_ref"].value == "XK-2231"


def test_to_json_is_plain_data():
    result = extract_fields([text_page(RECEIPT_TEXT)], preset="receipt")

    data = to_json(result)

    total = data["fields"]["total"]
    assert total["value"] == "17.20"
    assert "currency" not in total  # no currency on this receipt
    assert set(total["evidence"]) == {"page", "start", "end", "text", "box"}
    assert data["fields"]["address"]["evidence"]["page"] == 1
    assert data["line_items"] == []
    assert isinstance(data["warnings"], list)


# ------------------------------------------------------------------ real OCR, real PDF


@pytest.fixture(scope="module")
def receipt_image():
    return render_receipt()


def _check_rendered_receipt(pages: list[PageText]) -> None:
    result = extract_fields(pages, preset="receipt")
    values = {name: field.value for name, field in result.fields.items()}
    assert values["vendor"].replace(" ", "") == "KEDAIBUKUMAJUSDNBHD"
    assert values["date"] == "2018-12-25"
    assert values["total"] == "13.35"  # the rounded total, not 13.36 nor the cash
    assert values["currency"] == "MYR"
    assert "JALANMERDEKA" in values["address"].replace(" ", "")
    assert "53100" in values["address"]
    for name, raw in [("total", "13.35"), ("date", "25/12/2018"), ("vendor", "KEDAI")]:
        assert_evidence_points_at(result, pages, name, raw)
        assert_box_inside(result, pages, name)
    assert result.fields["total"].confidence >= 0.9
    assert result.fields["date"].confidence >= 0.8


def test_rendered_receipt_read_by_rapidocr(receipt_image, tmp_path):
    path = tmp_path / "receipt.png"
    receipt_image.save(path)

    _check_rendered_receipt(pages_of(path, get_ocr_engine("rapidocr")))


@needs_tesseract
def test_rendered_receipt_read_by_tesseract(receipt_image, tmp_path):
    path = tmp_path / "receipt.jpg"
    receipt_image.save(path, quality=92)

    _check_rendered_receipt(pages_of(path, get_ocr_engine("tesseract")))


def test_generated_invoice_pdf_with_line_items(tmp_path):
    path = write_invoice_pdf(tmp_path / "invoice.pdf")
    pages = pages_of(path, get_ocr_engine("rapidocr"))  # text layer: OCR is not used

    result = extract_fields(
        pages, preset="invoice", fields=[FieldSpec("po", "text", "purchase order number")]
    )

    values = {name: field.value for name, field in result.fields.items()}
    assert values == {
        "vendor": "Northwind Traders GmbH",
        "vendor_address": "Hauptstrasse 5, 10115 Berlin",
        "invoice_number": "INV-2024-0042",
        "date": "2024-03-05",
        "due_date": "2024-04-04",
        "total": "1958.12",
        "subtotal": "1645.48",
        "tax": "312.64",
        "currency": "EUR",
        "po": "PO-7781",
    }
    assert result.line_items == [
        {
            "description": description,
            "quantity": qty,
            "unit_price": price,
            "amount": amount.replace(",", ""),
        }
        for description, qty, price, amount in INVOICE_ROWS
    ]
    for name, raw in [("invoice_number", "INV-2024-0042"), ("total", "1,958.12")]:
        assert_evidence_points_at(result, pages, name, raw)
    assert result.fields["total"].evidence.box is None
    assert result.fields["invoice_number"].confidence >= 0.9
