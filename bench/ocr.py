"""OCR throughput: Pyq's extract_text step against the bare OCR engine, same 50 SROIE scans.

    .venv/bin/python bench/ocr.py [--engine tesseract|rapidocr] [--images 50]

Measures pages per second with one process, then with two processes at once (both cores
busy). "Pyq" is the whole extract_text step (check the file by content, OCR, page image);
"bare" is the engine's own call on the same file. Prints JSON; target ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, emit


def bare(engine: str, paths: list[str]) -> float:
    """The engine as its library offers it, on the image file."""
    if engine == "tesseract":
        import pytesseract
        from PIL import Image

        def read(path):
            return pytesseract.image_to_data(Image.open(path), output_type=pytesseract.Output.DICT)
    else:
        from rapidocr_onnxruntime import RapidOCR

        ocr = RapidOCR()

        def read(path):
            return ocr(path)

    read(paths[0])  # warm up
    began = time.perf_counter()
    for path in paths:
        read(path)
    return time.perf_counter() - began


def pyq(engine: str, paths: list[str]) -> float:
    """Pyq's extract_text step, as a worker runs it."""
    import automations.steps  # noqa: F401  (registers the steps; no Django app runs here)
    from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline
    from automations.engine.steps import DocumentInfo, StepContext

    steps = parse_pipeline([{"step": "extract_text", "config": {"ocr_engine": engine}}])

    def read(path):
        context = StepContext(DocumentInfo(Path(path).name, "jpeg", path))
        error = run_pipeline(steps, context, MemoryStore())
        assert error is None, error

    read(paths[0])
    began = time.perf_counter()
    for path in paths:
        read(path)
    return time.perf_counter() - began


def measure(kind: str, engine: str, paths: list[str], workers: int) -> float:
    """Pages per second with `workers` processes, each reading its share of the pages."""
    fn = bare if kind == "bare" else pyq
    if workers == 1:
        return round(len(paths) / fn(engine, paths), 3)
    shares = [paths[i::workers] for i in range(workers)]
    began = time.perf_counter()
    # Fresh processes (spawn): forked ones would inherit what the Pyq run set in this one
    # (Tesseract's thread setting), and the bare engine must run as its library offers it.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(fn, [engine] * workers, shares))
    return round(len(paths) / (time.perf_counter() - began), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="tesseract", choices=["tesseract", "rapidocr"])
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    paths = sorted(str(p) for p in (SHARED / "sroie-train-sample" / "img").glob("*.jpg"))
    paths = paths[: args.images]
    result: dict = {"engine": args.engine, "pages": len(paths), "data": "SROIE train sample"}
    for workers in (1, 2):
        raw = measure("bare", args.engine, paths, workers)
        ours = measure("pyq", args.engine, paths, workers)
        result[f"{workers}_process"] = {
            "bare_pages_per_s": raw,
            "pyq_pages_per_s": ours,
            "ratio": round(ours / raw, 3),
        }
    result["target_ratio"] = 0.9
    emit(f"ocr-{args.engine}", result)


if __name__ == "__main__":
    main()
