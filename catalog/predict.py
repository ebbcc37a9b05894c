"""One call to one catalog model: what the playground and POST /api/v1/models/<slug>/predict run.

It runs the same steps a workflow runs (extract_text for a file, then the model's step),
in memory: nothing is stored but what the caller keeps.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from automations.engine.fields import PageText
from automations.engine.pipeline import MemoryStore, parse_pipeline, run_pipeline
from automations.engine.ports import MemoryServices
from automations.engine.steps import DocumentInfo, StepConfigError, StepContext
from catalog.registry import BY_SLUG, CatalogModel


class PredictError(ValueError):
    """Bad input from the caller (unknown model, bad labels or fields): a 400, not a failure."""


@dataclass
class PredictInput:
    text: str | None = None
    file_path: str | None = None
    file_name: str = "document"
    options: dict | None = None


def model_config(model: CatalogModel, options: dict | None) -> dict:
    """The step configuration for a model, from the caller's options."""
    options = options or {}
    config = dict(model.base_config)
    if "labels" in model.options and "labels" in options:
        config["labels"] = options["labels"]
    if "threshold" in options and model.step == "classify":
        config["threshold"] = options["threshold"]
    if "fields" in model.options and options.get("fields"):
        config["fields"] = options["fields"]
    if "sentences" in model.options and "sentences" in options:
        config["sentences"] = options["sentences"]
    if model.step == "redact" and options.get("kinds"):
        config["kinds"] = options["kinds"]
    # The step checks these against the catalog (parse_pipeline), as in a workflow.
    if model.step in ("classify", "summarize") and options.get("model") is not None:
        config["model"] = options["model"]
    if model.step == "classify" and options.get("classifier") is not None:
        config["classifier"] = options["classifier"]
    return config


def predict(
    slug: str,
    data: PredictInput,
    *,
    ocr_engine: str = "auto",
    step_time_limit: float | None = 120,
    with_images: bool = False,
) -> dict:
    """Run one model on text or a file. Raises PredictError for input the caller must fix."""
    model = BY_SLUG.get(slug)
    if model is None:
        raise PredictError(f"There is no model called {slug!r}.")
    if bool(data.text and data.text.strip()) == bool(data.file_path):
        raise PredictError("Send either text or a file.")
    pipeline = [{"id": "text", "step": "extract_text"}] if data.file_path else []
    pipeline.append(
        {"id": "result", "step": model.step, "config": model_config(model, data.options)}
    )
    try:
        steps = parse_pipeline(pipeline)
    except StepConfigError as exc:
        raise PredictError(str(exc)) from exc
    services = MemoryServices(name=data.file_name, ocr_engine=ocr_engine)
    context = StepContext(
        document=DocumentInfo(name=data.file_name, kind="txt", path=data.file_path),
        pages=[] if data.file_path else [PageText(1, data.text or "")],
        services=services,
    )
    store = MemoryStore()
    error = run_pipeline(steps, context, store, step_time_limit=step_time_limit)
    return {
        "model": slug,
        "output": store.results.get("result"),
        "error": error,
        "warnings": [w for ws in store.warnings.values() for w in ws],
        "text": store.results.get("text"),
        "pages": [
            {
                "number": page.number,
                "text": page.text,
                "width": page.width,
                "height": page.height,
                **(
                    {"image": _jpeg_data_uri(services.images[page.number])}
                    if with_images and page.number in services.images
                    else {}
                ),
            }
            for page in context.pages
        ],
        "artifacts": [
            {**a, "data": _data_uri(a["data"], a["content_type"])} for a in services.artifacts
        ],
    }


def _data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def _jpeg_data_uri(image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=80)
    return _data_uri(buffer.getvalue(), "image/jpeg")
