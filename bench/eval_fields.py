"""Field-extraction accuracy on real documents (SROIE receipts, invoice2data invoices).

Runs Pyq's own pipeline as production does: inspect_file -> iter_pages with an OCR engine
-> PageText -> extract_fields (preset "receipt" or "invoice"), and scores each field with the
rule in /work/shared/data/README.md. OCR output is cached per (engine, file sha256) under
$PYQ_DATA_DIR/eval-cache so that re-runs only time and score the extraction.

    .venv/bin/python bench/eval_fields.py [--ocr tesseract|rapidocr|both] [--limit N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from automations.engine.extract import iter_pages  # noqa: E402
from automations.engine.fields import (  # noqa: E402
    ExtractionResult,
    PageText,
    extract_fields,
)
from automations.engine.fields.normalize import parse_date, parse_money  # noqa: E402
from automations.engine.filetypes import inspect_file  # noqa: E402
from catalog.runtime.ocr import OcrLine, get_ocr_engine, tesseract_available  # noqa: E402

DATA = Path(os.environ.get("PYQ_EVAL_DATA", "/work/shared/data"))
SROIE = DATA / "sroie-train-sample"
INVOICES = DATA / "invoice2data"
MEASUREMENTS = ROOT / "catalog" / "measurements" / "fields.json"
README = ROOT / "README.md"
MARK_START = "<!-- eval:fields:start -->"
MARK_END = "<!-- eval:fields:end -->"
CACHE_VERSION = 1

# Pyq field -> ground-truth key, and how the two are compared.
SROIE_FIELDS = {"vendor": "company", "address": "address", "date": "date", "total": "total"}
INVOICE_FIELDS = {
    "vendor": "issuer",
    "date": "date",
    "invoice_number": "invoice_number",
    "total": "amount",
    "currency": "currency",
}
KIND_OF = {
    "vendor": "text",
    "address": "text",
    "date": "date",
    "total": "money",
    "invoice_number": "text",
    "currency": "text",
}
TARGETS = {
    "sroie": {"total": 0.90, "date": 0.90, "vendor": 0.80, "address": 0.60},
    "invoice2data": {"date": 0.90, "total": 0.90, "invoice_number": 0.90},
}
BUCKETS = ((0.9, 1.01), (0.7, 0.9), (0.5, 0.7), (0.0, 0.5))


# ------------------------------------------------------------------------------ OCR cache


def data_dir() -> Path:
    return Path(os.environ.get("PYQ_DATA_DIR", str(ROOT / "var"))).resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_pages(path: Path, engine: str) -> tuple[list[PageText], float, bool]:
    """Pages of ``path`` read with ``engine``; (pages, OCR seconds, whether from cache)."""
    cache = data_dir() / "eval-cache" / engine / f"{_sha256(path)}.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("version") == CACHE_VERSION:
            return [_page_from_json(p) for p in stored["pages"]], stored["seconds"], True
    ocr = get_ocr_engine(engine)
    start = time.perf_counter()
    kind = inspect_file(path).kind
    pages = []
    for page in iter_pages(path, kind, ocr):
        width, height = page.image.size if page.image is not None else (None, None)
        pages.append(
            PageText(
                number=page.number,
                text=page.text,
                lines=list(page.lines),
                width=width,
                height=height,
            )
        )
    seconds = time.perf_counter() - start
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "version": CACHE_VERSION,
                "file": path.name,
                "seconds": seconds,
                "pages": [_page_to_json(p) for p in pages],
            }
        )
    )
    tmp.replace(cache)
    return pages, seconds, False


def _page_to_json(page: PageText) -> dict[str, Any]:
    return {
        "number": page.number,
        "text": page.text,
        "width": page.width,
        "height": page.height,
        "lines": [[ln.text, ln.confidence, list(ln.box)] for ln in page.lines],
    }


def _page_from_json(data: dict[str, Any]) -> PageText:
    return PageText(
        number=data["number"],
        text=data["text"],
        width=data["width"],
        height=data["height"],
        lines=[OcrLine(text=t, confidence=c, box=tuple(b)) for t, c, b in data["lines"]],
    )


# -------------------------------------------------------------------------------- scoring


def _squash(text: str) -> str:
    return re.sub(r"[\s.,'\"]", "", text).lower()


def text_match(pred: str | None, truth: str) -> bool:
    if pred is None:
        return False
    a, b = _squash(pred), _squash(truth)
    if a == b:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.9


def date_match(pred: str | None, truth: str) -> bool:
    if pred is None:
        return False
    expected = parse_date(str(truth), day_first=True)
    return expected is not None and expected.isoformat() == pred


def money_match(pred: str | None, truth: Any) -> bool:
    if pred is None:
        return False
    expected = truth if isinstance(truth, float | int) else parse_money(str(truth))
    if expected is None:
        return False
    return abs(float(pred) - float(expected)) < 0.005


def field_match(field: str, pred: str | None, truth: Any) -> bool:
    kind = KIND_OF[field]
    if kind == "date":
        return date_match(pred, str(truth))
    if kind == "money":
        return money_match(pred, truth)
    return text_match(pred, str(truth))


# ---------------------------------------------------------------------------- data sets


def sroie_docs(limit: int | None) -> list[tuple[str, Path, dict[str, Any]]]:
    docs = []
    for image in sorted((SROIE / "img").glob("*.jpg")):
        key = SROIE / "key" / f"{image.stem}.json"
        if key.exists():
            docs.append((image.stem, image, json.loads(key.read_text())))
    return docs[:limit] if limit else docs


def invoice_docs(limit: int | None) -> list[tuple[str, Path, dict[str, Any]]]:
    docs = []
    for truth in sorted(INVOICES.glob("*.json")):
        source = next(
            (truth.with_suffix(ext) for ext in (".pdf", ".txt") if truth.with_suffix(ext).exists()),
            None,
        )
        if source is not None:
            docs.append((truth.stem, source, json.loads(truth.read_text())[0]))
    return docs[:limit] if limit else docs


def evaluate(
    dataset: str,
    docs: list[tuple[str, Path, dict[str, Any]]],
    engine: str,
    preset: str,
    mapping: dict[str, str],
    verbose: bool,
) -> dict[str, Any]:
    per_field = {f: {"right": 0, "n": 0} for f in mapping}
    scored: list[tuple[float, bool]] = []
    ocr_seconds: list[float] = []
    extract_seconds: list[float] = []
    misses: list[dict[str, Any]] = []
    for name, path, truth in docs:
        pages, seconds, _ = load_pages(path, engine)
        ocr_seconds.append(seconds)
        start = time.perf_counter()
        result: ExtractionResult = extract_fields(pages, preset=preset)
        extract_seconds.append(time.perf_counter() - start)
        for field, key in mapping.items():
            if truth.get(key) in (None, ""):
                continue  # not in the ground truth (SROIE 033 has no total)
            got = result.fields[field]
            ok = field_match(field, got.value, truth[key])
            per_field[field]["n"] += 1
            per_field[field]["right"] += int(ok)
            scored.append((got.confidence, ok))
            if not ok:
                misses.append({"doc": name, "field": field, "got": got.value, "want": truth[key]})
                if verbose:
                    print(
                        f"  miss {dataset}/{engine} {name} {field}: "
                        f"got {got.value!r} ({got.confidence:.2f}) want {truth[key]!r}",
                        file=sys.stderr,
                    )
    accuracy = {
        f: {
            "accuracy": round(c["right"] / c["n"], 3) if c["n"] else None,
            "right": c["right"],
            "n": c["n"],
        }
        for f, c in per_field.items()
    }
    return {
        "dataset": dataset,
        "engine": engine,
        "documents": len(docs),
        "fields": accuracy,
        "mean_ocr_seconds": round(sum(ocr_seconds) / len(ocr_seconds), 3) if docs else None,
        "mean_extract_seconds": round(sum(extract_seconds) / len(extract_seconds), 4)
        if docs
        else None,
        "calibration": calibration(scored),
        "misses": misses,
    }


def calibration(scored: list[tuple[float, bool]]) -> list[dict[str, Any]]:
    out = []
    for lo, hi in BUCKETS:
        inside = [ok for conf, ok in scored if lo <= conf < hi]
        out.append(
            {
                "confidence": f"[{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'}",
                "n": len(inside),
                "accuracy": round(sum(inside) / len(inside), 3) if inside else None,
            }
        )
    return out


# ------------------------------------------------------------------------------- output


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_table(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| Data set | Field | OCR | Accuracy | n | Target |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for field, acc in run["fields"].items():
            target = TARGETS.get(run["dataset"], {}).get(field)
            rows.append(
                f"| {run['dataset']} | {field} | {run['engine']} | {_fmt(acc['accuracy'])} "
                f"| {acc['n']} | {_fmt(target) if target else ''} |"
            )
    return "\n".join(rows)


def calibration_table(runs: list[dict[str, Any]]) -> str:
    rows = ["| Data set | OCR | " + " | ".join(b["confidence"] for b in runs[0]["calibration"])]
    rows[0] += " |"
    rows.append("|---|---|" + "---|" * len(runs[0]["calibration"]))
    for run in runs:
        cells = [f"{_fmt(b['accuracy'])} (n={b['n']})" for b in run["calibration"]]
        rows.append(f"| {run['dataset']} | {run['engine']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_section(summary: dict[str, Any]) -> str:
    runs = summary["runs"]
    timing = "; ".join(
        f"{r['dataset']}/{r['engine']}: OCR {r['mean_ocr_seconds']:.2f} s, "
        f"extraction {r['mean_extract_seconds'] * 1000:.1f} ms"
        for r in runs
    )
    winners = summary["best_engine"].get("sroie", {})
    engines = {r["engine"] for r in runs}
    verdict = ""
    if len(engines) > 1 and winners:
        counts = {e: sum(1 for w in winners.values() if w == e) for e in engines}
        top = max(counts, key=lambda e: counts[e])
        verdict = (
            f" On the receipts {top} gives the better result for "
            f"{counts[top]} of {len(winners)} fields."
        )
    return (
        f"Field extraction (`extract_fields`, presets `receipt` and `invoice`) measured with "
        f"`make eval` on {summary['measured']} ({summary['cpu_count']} CPUs): SROIE "
        f"({summary['documents']['sroie']} scanned receipts, the data set's ground truth, our "
        f"own OCR) and invoice2data ({summary['documents']['invoice2data']} digital invoices). "
        f"Text fields match when equal ignoring case, spaces and `.,'\"` or at least 90% "
        f"alike; dates as calendar dates; totals as numbers. The invoice2data PDFs have a "
        f"text layer, so no OCR runs on them and both engines' rows are the same.{verdict}\n\n"
        f"{markdown_table(runs)}\n\n"
        f"Confidence calibration (share of fields right per confidence band):\n\n"
        f"{calibration_table(runs)}\n\n"
        f"Mean seconds per document: {timing}.\n"
    )


def update_readme(section: str) -> None:
    text = README.read_text()
    block = f"{MARK_START}\n{section}{MARK_END}"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Accuracy\n\n" + block + "\n"
    README.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ocr", choices=("tesseract", "rapidocr", "both"), default="both")
    parser.add_argument("--limit", type=int, default=None, help="documents per data set")
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    parser.add_argument(
        "--no-write", action="store_true", help="do not write fields.json or README.md"
    )
    args = parser.parse_args(argv)

    engines = ["tesseract", "rapidocr"] if args.ocr == "both" else [args.ocr]
    if "tesseract" in engines and not tesseract_available():
        print("tesseract is not installed: skipping it", file=sys.stderr)
        engines.remove("tesseract")
    if not engines:
        return 1

    sroie = sroie_docs(args.limit)
    invoices = invoice_docs(args.limit)
    runs = []
    for engine in engines:
        runs.append(evaluate("sroie", sroie, engine, "receipt", SROIE_FIELDS, args.verbose))
        runs.append(
            evaluate("invoice2data", invoices, engine, "invoice", INVOICE_FIELDS, args.verbose)
        )

    summary = {
        "measured": dt.date.today().isoformat(),
        "cpu_count": os.cpu_count(),
        "documents": {"sroie": len(sroie), "invoice2data": len(invoices)},
        "limit": args.limit,
        "targets": TARGETS,
        "runs": runs,
        "best_engine": best_engine(runs),
    }
    print(markdown_table(runs))
    print()
    print(calibration_table(runs))
    print()
    print(json.dumps(summary, indent=2))
    if not args.no_write:
        MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
        MEASUREMENTS.write_text(json.dumps(summary, indent=2) + "\n")
        update_readme(readme_section(summary))
    return 0


def best_engine(runs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per data set and field, the engine with the highest accuracy (ties: "tie")."""
    out: dict[str, dict[str, str]] = {}
    for dataset in {r["dataset"] for r in runs}:
        mine = [r for r in runs if r["dataset"] == dataset]
        if len(mine) < 2:
            continue
        out[dataset] = {}
        for field in mine[0]["fields"]:
            scores = {r["engine"]: r["fields"][field]["accuracy"] or 0.0 for r in mine}
            top = max(scores.values())
            winners = [e for e, s in scores.items() if s == top]
            out[dataset][field] = winners[0] if len(winners) == 1 else "tie"
    return out


if __name__ == "__main__":
    raise SystemExit(main())
