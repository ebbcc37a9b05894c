"""The pipeline every upload runs until workflows (built in the dashboard) choose their own."""

DOCUMENT_TYPES = [
    {
        "name": "invoice",
        "description": "a bill from a supplier asking for payment, with an invoice number, "
        "a due date, line items, tax and a total to pay",
    },
    {
        "name": "receipt",
        "description": "a till or card receipt from a shop, restaurant or petrol station for a "
        "purchase already paid, with a total, cash and change",
    },
    {
        "name": "purchase order",
        "description": "an order sent to a supplier listing goods to buy, with a PO number",
    },
    {
        "name": "bank statement",
        "description": "a bank account statement listing transactions and balances",
    },
    {
        "name": "contract",
        "description": "an agreement between parties with terms, clauses and signatures",
    },
    {"name": "letter", "description": "a letter or email message written to a person"},
    {"name": "form", "description": "a form with labelled boxes filled in by a person"},
]

DEFAULT_PIPELINE = [
    {"id": "text", "step": "extract_text"},
    {"id": "type", "step": "classify", "config": {"labels": DOCUMENT_TYPES}},
    {"id": "fields", "step": "extract_fields", "config": {"preset": "auto"}},
    {"id": "duplicates", "step": "similar_documents"},
]
