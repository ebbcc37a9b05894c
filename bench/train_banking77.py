"""Train the catalog's banking77 intent classifier: a linear head on frozen MiniLM embeddings.

    .venv/bin/python bench/train_banking77.py

Data: banking77 (PolyAI, CC BY 4.0) train.csv, 10,003 questions; scored on test.csv (3,080).
Writes catalog/models/banking77-intents/ (head.npz + meta.json with labels, checksum, metrics
and attribution), which the classify step loads as `classifier: banking77-intents`.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automations.steps._common import embed_documents
from bench.common import SHARED, machine
from catalog.runtime.embeddings import load_embedder
from catalog.runtime.heads import PACKAGED, train_head

SLUG = "banking77-intents"


def read(name: str) -> tuple[list[str], list[str]]:
    with open(SHARED / "banking77" / name) as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"].replace("_", " ") for r in rows]


def main() -> None:
    embedder = load_embedder("minilm")
    train_x, train_y = read("train.csv")
    test_x, test_y = read("test.csv")
    began = time.perf_counter()
    train_v = embed_documents(embedder, train_x)
    embed_seconds = time.perf_counter() - began
    began = time.perf_counter()
    head = train_head(train_v, train_y, embedder="minilm", c=10.0)
    train_seconds = time.perf_counter() - began
    probabilities = head.probabilities(embed_documents(embedder, test_x))
    predicted = [head.labels[i] for i in probabilities.argmax(axis=1)]
    accuracy = sum(p == t for p, t in zip(predicted, test_y, strict=True)) / len(test_y)
    top3 = probabilities.argsort(axis=1)[:, -3:]
    top3_accuracy = sum(
        head.labels.index(t) in row for row, t in zip(top3, test_y, strict=True)
    ) / len(test_y)
    head.save(
        PACKAGED / SLUG,
        name="banking77 intents (MiniLM + linear head)",
        dataset="banking77 (PolyAI-LDN/task-specific-datasets), CC BY 4.0",
        trained_on=len(train_x),
        c=10.0,
        trained_at=time.strftime("%Y-%m-%d"),
        machine=machine(),
        seconds={"embed": round(embed_seconds, 1), "train": round(train_seconds, 1)},
        metrics={
            "test_accuracy": round(accuracy, 4),
            "test_top3": round(top3_accuracy, 4),
            "test_n": len(test_y),
        },
    )
    print(
        {
            "accuracy": round(accuracy, 4),
            "top3": round(top3_accuracy, 4),
            "embed_s": round(embed_seconds, 1),
            "train_s": round(train_seconds, 1),
        }
    )


if __name__ == "__main__":
    main()
