"""Classifier accuracy on real data: banking77 zero-shot, and the upload pipeline's document
types on real receipts and invoices.

    .venv/bin/python bench/eval_classify.py [--limit N]

- banking77 test.csv (3,080 questions, 77 intents): zero-shot with the intent names as labels
  (underscores read as spaces), MiniLM, Pyq's classify step code (classify_texts).
- Document type: the default upload pipeline's labels (automations/pipelines.py) on the SROIE
  receipts (expected "receipt") and the invoice2data invoices (expected "invoice"), on the text
  Pyq's OCR reads (cached by bench/eval_fields.py).
Writes catalog/measurements/classify.json (cards for the catalog) and prints JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automations.pipelines import DOCUMENT_TYPES
from automations.steps.classify import classify_texts
from bench.common import SHARED, machine
from bench.eval_fields import invoice_docs, load_pages, sroie_docs
from catalog.runtime.embeddings import load_embedder

OUT = Path(__file__).resolve().parents[1] / "catalog" / "measurements" / "classify.json"


def banking77(embedder, limit: int | None) -> dict:
    with open(SHARED / "banking77" / "test.csv") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    labels = json.loads((SHARED / "banking77" / "categories.json").read_text())
    names = [label.replace("_", " ") for label in labels]
    began = time.perf_counter()
    results = classify_texts(embedder, [r["text"] for r in rows], names, threshold=0.0)
    seconds = time.perf_counter() - began
    truth = [r["category"].replace("_", " ") for r in rows]
    top1 = sum(r["label"] == t for r, t in zip(results, truth, strict=True)) / len(rows)
    top3 = sum(
        t in [x["label"] for x in r["top"]] for r, t in zip(results, truth, strict=True)
    ) / len(rows)
    return {
        "n": len(rows),
        "accuracy": round(top1, 3),
        "top3": round(top3, 3),
        "ms_per_text": round(1000 * seconds / len(rows), 2),
    }


def document_types(embedder, limit: int | None) -> dict:
    docs = [("receipt", path) for _, path, _ in sroie_docs(limit)]
    docs += [("invoice", path) for _, path, _ in invoice_docs(limit)]
    texts = ["\n".join(p.text for p in load_pages(path, "rapidocr")[0]) for _, path in docs]
    results = classify_texts(embedder, texts, DOCUMENT_TYPES)
    per_type: dict[str, dict] = {}
    for (expected, _path), result in zip(docs, results, strict=True):
        entry = per_type.setdefault(expected, {"n": 0, "right": 0, "confused_with": {}})
        entry["n"] += 1
        if result["label"] == expected:
            entry["right"] += 1
        else:
            confused = entry["confused_with"]
            confused[result["label"]] = confused.get(result["label"], 0) + 1
    for entry in per_type.values():
        entry["accuracy"] = round(entry["right"] / entry["n"], 3)
    return per_type


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    embedder = load_embedder("minilm")
    bank = banking77(embedder, args.limit)
    types = document_types(embedder, args.limit)
    date = time.strftime("%Y-%m-%d")
    cards = {
        "banking77": {
            "title": f"Zero-shot on banking77 ({bank['n']} questions, 77 intents)",
            "rows": [
                {"label": "accuracy", "value": f"{bank['accuracy']:.3f}"},
                {"label": "top 3", "value": f"{bank['top3']:.3f}"},
                {"label": "ms/text", "value": f"{bank['ms_per_text']:.1f}"},
            ],
            "note": f"Measured by make eval on {date}, {machine()['cpus']} CPU cores, with no "
            "training: the labels are the intent names. For reference, logistic regression on "
            "frozen MiniLM embeddings with 8 examples a label reaches 0.858 (data README).",
        },
        "doctype": {
            "title": "Document type on real scans (upload pipeline labels)",
            "rows": [
                {"label": f"{name} ({e['n']})", "value": f"{e['accuracy']:.2f}"}
                for name, e in types.items()
            ],
            "note": f"SROIE receipts and invoice2data invoices, OCR by RapidOCR; measured {date}.",
        },
    }
    OUT.write_text(json.dumps(cards, indent=2) + "\n")
    print(json.dumps({"banking77": bank, "document_types": types}, indent=2))


if __name__ == "__main__":
    main()
