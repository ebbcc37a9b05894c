"""The pipeline every upload runs until workflows (built in the dashboard) choose their own."""

# Descriptions carry the meaning; keywords (any language the customers write in) separate
# types whose meaning is close, like a receipt and an invoice. Measured by
# bench/eval_classify.py on real receipts and invoices (README, "Accuracy").
DOCUMENT_TYPES = [
    {
        "name": "invoice",
        "description": "a bill from a supplier asking for payment, with an invoice number, "
        "a due date, line items, tax and a total to pay",
        "keywords": [
            "invoice number",
            "invoice no",
            "invoice date",
            "due date",
            "bill to",
            "ship to",
            "payment terms",
            "amount due",
            "balance due",
            "facture",
            "rechnung",
            "factuur",
            "faktura",
            "fattura",
            "factura",
            "vat",
            "iban",
            "bic",
            "swift",
            "purchase order",
            "customer",
            "net amount",
        ],
    },
    {
        "name": "receipt",
        "description": "a till or card receipt from a shop, restaurant or petrol station for a "
        "purchase already paid, with a total, cash and change",
        "keywords": [
            "cash",
            "change",
            "receipt",
            "cashier",
            "thank you",
            "rounding",
            "tunai",
            "baki",
            "counter",
            "visa",
            "mastercard",
            "qty",
            "tel",
            "gst",
            "please come again",
        ],
    },
    {
        "name": "purchase order",
        "description": "an order sent to a supplier listing goods to buy, with a PO number",
        "keywords": ["purchase order", "po number", "po no", "order date", "deliver to"],
    },
    {
        "name": "bank statement",
        "description": "a bank account statement listing transactions and balances",
        "keywords": ["statement", "opening balance", "closing balance", "account number"],
    },
    {
        "name": "contract",
        "description": "an agreement between parties with terms, clauses and signatures",
        "keywords": ["agreement", "hereby", "parties", "clause", "signature", "term"],
    },
    {
        "name": "letter",
        "description": "a letter or email message written to a person",
        "keywords": ["dear", "sincerely", "regards", "subject"],
    },
    {
        "name": "form",
        "description": "a form with labelled boxes filled in by a person",
        "keywords": ["application", "please complete", "signature", "date of birth"],
    },
]

DEFAULT_PIPELINE = [
    {"id": "text", "step": "extract_text"},
    {"id": "type", "step": "classify", "config": {"labels": DOCUMENT_TYPES}},
    {"id": "fields", "step": "extract_fields", "config": {"preset": "auto"}},
    {"id": "duplicates", "step": "similar_documents"},
]


# Starting points for the workflow builder: every one is a complete, valid pipeline; the
# builder asks for what each marks as the customer's own (the webhook URL, the addresses).
WORKFLOW_TEMPLATES = {
    "invoice-intake": {
        "name": "Invoice intake to CSV and webhook",
        "description": "Read each invoice, check it is one, pull out vendor, date and total, "
        "and send them to your accounting system's webhook.",
        "steps": [
            {"id": "text", "step": "extract_text"},
            {"id": "type", "step": "classify", "config": {"labels": DOCUMENT_TYPES[:2]}},
            {"id": "fields", "step": "extract_fields", "config": {"preset": "invoice"}},
            {"id": "tag", "step": "tag", "config": {"type_from": "type"}},
            {
                "id": "send",
                "step": "webhook",
                "config": {
                    "url": "https://accounting.example.com/pyq",
                    "payload": {
                        "vendor": "fields.fields.vendor.value",
                        "date": "fields.fields.date.value",
                        "total": "fields.fields.total.value",
                        "currency": "fields.fields.currency.value",
                    },
                },
            },
        ],
    },
    "sort-mail": {
        "name": "Sort incoming mail by type",
        "description": "Read each mail and attachment, decide what it is, and tag it.",
        "steps": [
            {"id": "text", "step": "extract_text"},
            {"id": "type", "step": "classify", "config": {"labels": DOCUMENT_TYPES}},
            {"id": "tag", "step": "tag", "config": {"type_from": "type", "tag_with_type": True}},
        ],
    },
    "redact": {
        "name": "Redact personal data before sharing",
        "description": "Black out e-mail addresses, phone numbers, IBANs and card numbers, "
        "and keep a redacted PDF to share.",
        "steps": [
            {"id": "text", "step": "extract_text"},
            {"id": "redact", "step": "redact"},
            {"id": "tag", "step": "tag", "config": {"tags": ["redacted"]}},
        ],
    },
    "receipts": {
        "name": "Receipts to expense table",
        "description": "Read receipts and pull out vendor, date, total and tax for expenses.",
        "steps": [
            {"id": "text", "step": "extract_text"},
            {"id": "fields", "step": "extract_fields", "config": {"preset": "receipt"}},
            {"id": "tag", "step": "tag", "config": {"type": "receipt", "tags": ["expenses"]}},
            {"id": "expenses", "step": "table", "config": {"table": "Expenses"}},
        ],
    },
}
