"""The built-in field sets and how each is extracted."""

from __future__ import annotations

from automations.engine.fields import common
from automations.engine.fields import labels as lb
from automations.engine.fields.document import Document
from automations.engine.fields.model import FieldResult, FieldSpec
from automations.engine.fields.parties import address_after, find_vendor
from automations.engine.fields.search import result_from

__all__ = ["PRESETS", "extract_preset"]

PRESETS: dict[str, list[FieldSpec]] = {
    "invoice": [
        FieldSpec("vendor", "text", "Company that issued the invoice"),
        FieldSpec("vendor_address", "text", "Address of the company that issued the invoice"),
        FieldSpec("invoice_number", "text", "Invoice number"),
        FieldSpec("date", "date", "Invoice date"),
        FieldSpec("due_date", "date", "Date the payment is due"),
        FieldSpec("total", "money", "Amount to pay, taxes included"),
        FieldSpec("subtotal", "money", "Amount before tax"),
        FieldSpec("tax", "money", "Tax amount (VAT, GST)"),
        FieldSpec("currency", "text", "ISO 4217 currency code"),
    ],
    "receipt": [
        FieldSpec("vendor", "text", "Shop or company name"),
        FieldSpec("address", "text", "Shop address"),
        FieldSpec("date", "date", "Date of the purchase"),
        FieldSpec("total", "money", "Amount paid"),
        FieldSpec("tax", "money", "Tax amount (GST, SST, VAT)"),
        FieldSpec("currency", "text", "ISO 4217 currency code"),
    ],
}


def _money(doc: Document, cand: common.Candidate | None, currency: FieldResult) -> FieldResult:
    result = result_from(doc, cand)
    if result.value is not None and result.currency is None:
        result.currency = currency.value
    return result


def extract_preset(doc: Document, preset: str) -> dict[str, FieldResult]:
    receipt = preset == "receipt"
    vendor, name_lines = find_vendor(doc, receipt=receipt)
    number, number_hits = (None, []) if receipt else common.find_invoice_number(doc)
    total = common.find_total(doc, receipt=receipt)
    currency = common.currency_result(doc, total)
    out: dict[str, FieldResult] = {"vendor": vendor}
    if receipt:
        out["address"] = address_after(doc, name_lines)
    else:
        out["vendor_address"] = address_after(doc, name_lines, max_lines=4)
        out["invoice_number"] = result_from(doc, number)
    out["date"] = result_from(doc, common.find_date(doc, number_hits=number_hits))
    if not receipt:
        out["due_date"] = result_from(doc, common.find_due_date(doc))
    out["total"] = _money(doc, total, currency)
    if not receipt:
        subtotal = common.find_labelled_money(doc, lb.SUBTOTAL)
        out["subtotal"] = _money(doc, subtotal, currency)
    tax = common.find_labelled_money(doc, lb.TAX, exclude=lb.NOT_TAX)
    out["tax"] = _money(doc, tax, currency)
    out["currency"] = currency
    return {spec.name: out[spec.name] for spec in PRESETS[preset]}
