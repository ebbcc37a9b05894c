"""Write the benchmarks' latest results (bench/results/*.json) into README.md, between
<!-- bench:start --> and <!-- bench:end -->. Run by `make bench` after the benchmarks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def section() -> str:
    lines = [START, ""]
    pipeline = load("pipeline")
    if pipeline:
        lines += pipeline_section(pipeline)
    for engine in ("rapidocr", "tesseract"):
        ocr = load(f"ocr-{engine}")
        if ocr:
            one, two = ocr["1_process"], ocr["2_process"]
            lines += [
                f"**OCR throughput, {engine}** (`bench/ocr.py --engine {engine}`, "
                f"{ocr['pages']} SROIE scans, {ocr['measured_at']}): pages/s",
                "",
                "| | bare engine | Pyq extract_text | ratio |",
                "|---|---|---|---|",
                f"| one process | {one['bare_pages_per_s']} | {one['pyq_pages_per_s']} | "
                f"{one['ratio']} |",
                f"| two processes (both cores busy) | {two['bare_pages_per_s']} | "
                f"{two['pyq_pages_per_s']} | {two['ratio']} |",
                "",
            ]
    latency = load("latency")
    if latency:
        lines += [
            f"**Latency through the API** (`bench/latency.py`, warm calls to "
            f"`POST /api/v1/models/<slug>/predict` with the worker on the {latency['broker']} "
            f"broker, {latency['measured_at']}):",
            "",
            "| model | median ms | p90 ms | calls |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {slug} | {r['median_ms']} | {r['p90_ms']} | {r['calls']} |"
            for slug, r in latency["api"].items()
        ]
        lines += [
            "",
            f"The same classify call in-process (no web, no queue): "
            f"{latency['classify_in_process_median_ms']} ms. Worker memory with MiniLM and "
            f"RapidOCR loaded: {latency['worker_rss_mb']} MB (target under 1,536).",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def pipeline_section(pipeline: dict) -> list[str]:
    raw, ours, onnx = pipeline["plain_loop"], pipeline["pyq"], pipeline.get("plain_loop_onnx")
    lines = [
        f"**Pipeline efficiency** (`bench/pipeline.py`, {pipeline['documents']} short texts, "
        f"{pipeline['database']} + {pipeline['broker']}, {pipeline['machine']['cpus']} cores, "
        f"{pipeline['measured_at']}):",
        "",
        "| | documents/s (best round) | seconds |",
        "|---|---|---|",
        f"| plain loop: sentence-transformers' MiniLM encode (PyTorch) at its best batch size "
        f"({raw['best_batch_size']}) "
        f"| {raw['docs_per_s']} | {raw['seconds']} |",
    ]
    if onnx:
        lines.append(
            f"| plain loop of Pyq's own runtime: the worker's embedder (ONNX Runtime) at its "
            f"best batch size ({onnx['best_batch_size']}) | {onnx['docs_per_s']} | "
            f"{onnx['seconds']} |"
        )
    lines += [
        f"| Pyq: upload through the API, worker runs extract_text + classify, results "
        f"stored | {ours['docs_per_s']} | {ours['seconds']} |",
        "",
    ]
    rounds = pipeline.get("rounds", [])
    if rounds:
        each = ", ".join(str(r["ratio"]) for r in rounds)
        lines.append(
            f"Ratio {pipeline['ratio']}: the median of {len(rounds)} rounds side by side "
            f"({each}); target {pipeline['target_ratio']}."
        )
    else:
        lines.append(f"Ratio {pipeline['ratio']} (target {pipeline['target_ratio']}).")
    if "ratio_onnx" in pipeline:
        each = ", ".join(str(r["ratio_onnx"]) for r in rounds)
        lines.append(
            f"Against Pyq's own runtime: {pipeline['ratio_onnx']}, the median of the same "
            f"rounds ({each})."
        )
    lines += [
        f"Worker memory {ours['worker_rss_mb']} MB (its main process and its model "
        "processes together).",
        "",
    ]
    if "breakdown" in pipeline:
        lines += breakdown_section(pipeline["breakdown"], onnx)
    return lines


def breakdown_section(found: dict, onnx: dict | None) -> list[str]:
    """The table "Where a document's time goes" (bench/breakdown.py's parts)."""
    total = found["core_ms_per_doc"]
    lines = [
        f"**Where a document's time goes** (`bench/pipeline.py`, the same "
        f"{found['rounds']} Pyq rounds): {found['wall_ms_per_doc']} ms a document on "
        f"{found['cores']} cores, {total} core-ms, spent as below (CPU time in each "
        "process, from timers in Pyq's processes and /proc; idle cores count too).",
        "",
        "| category | part | core-ms per document | share |",
        "|---|---|---|---|",
    ]
    for part in found["parts"]:
        value = part["core_ms_per_doc"]
        lines.append(f"| {part['group']} | {part['what']} | {value:.2f} | {value / total:.1%} |")
    lines.append(f"| | sum of the parts | {found['sum_of_parts']:.2f} | |")
    lines.append("")
    groups = ", ".join(f"{name} {value:.2f}" for name, value in found["groups"].items())
    lines.append(f"By part: {groups}.")
    latency = found["queue_latency_ms"]
    tail = (
        f"The model alone in the plain loop of Pyq's runtime: {onnx['cpu_ms_per_doc']} CPU-ms "
        "a document. "
        if onnx and "cpu_ms_per_doc" in onnx
        else ""
    )
    lines += [
        f"{tail}A round's first run message waits {latency.get('first_message_median')} ms "
        "(median) from its send to the start of its task, the worker idle; all messages "
        f"{latency['median']} ms (median, at most {latency['max']} ms, {latency['messages']} "
        "messages), waiting also for a free worker process. The first task starts "
        f"{found['first_task_started_s']} s after the first upload began.",
        "",
    ]
    return lines


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text:
        text = text.rstrip() + "\n\n## Speed\n\n" + START + "\n" + END + "\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + section() + tail)


if __name__ == "__main__":
    main()
