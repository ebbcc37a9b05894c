"""The catalog over the API: list the models, and run one (POST .../models/<slug>/predict)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from api.auth import api_view, json_error, not_found
from api.idempotency import idempotent
from catalog.concurrency import RETRY_AFTER, busy_message, model_slot
from catalog.registry import BY_SLUG, MODELS
from catalog.services import PlaygroundError, run_model
from pyq_site.inputs import load_json

# "model" and "classifier" take only names from the catalog (catalog.registry.allowed_models).
OPTION_KEYS = ("labels", "threshold", "fields", "sentences", "kinds", "model", "classifier")


def _card(model) -> dict:
    return {
        "slug": model.slug,
        "name": model.name,
        "task": model.task,
        "step": model.step,
        "summary": model.summary,
        "license": model.license,
        "languages": model.languages,
        "source": model.source,
        "options": list(model.options),
        "measurements": model.measurements(),
    }


@api_view(["GET"])
def models(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"models": [_card(model) for model in MODELS]})


@api_view(["POST"])
@idempotent
def predict(request: HttpRequest, slug: str) -> JsonResponse:
    """JSON {"text": ..., options...}, or multipart with a `file` and `options` (JSON)."""
    if slug not in BY_SLUG:
        return not_found("model")
    try:
        text, upload, options = _read_input(request)
    except ValueError as exc:
        return json_error(400, "bad_request", str(exc))
    with model_slot(request.org) as free:
        if not free:
            response = json_error(429, "too_many_predictions", busy_message())
            response["Retry-After"] = str(RETRY_AFTER)
            return response
        try:
            result = run_model(request.org, slug, text=text, upload=upload, options=options)
        except PlaygroundError as exc:
            code = "unavailable" if exc.status == 503 else "invalid_input"
            return json_error(exc.status, code, str(exc))
    if result["error"]:
        return json_error(422, "model_failed", result["error"], warnings=result["warnings"])
    return JsonResponse(
        {
            "model": slug,
            "output": result["output"],
            "warnings": result["warnings"],
            "pages": result["pages"],
            "artifacts": result["artifacts"],
        }
    )


def _read_input(request: HttpRequest) -> tuple[str | None, object, dict]:
    if request.content_type == "application/json":
        body = load_json(request.body or b"{}", what="The body")  # InputError is a ValueError
        if not isinstance(body, dict):
            raise ValueError("Send a JSON object.")
        _refuse_unknown(body, {"text", *OPTION_KEYS})
        options = {key: body[key] for key in OPTION_KEYS if key in body}
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise ValueError("'text' must be a string.")
        return text, None, options
    _refuse_unknown(request.POST, {"text", "options"}, request.FILES)
    raw = request.POST.get("options") or "{}"
    options = load_json(raw, what="'options'")
    if not isinstance(options, dict):
        raise ValueError("'options' must be a JSON object.")
    return request.POST.get("text") or None, request.FILES.get("file"), options


def _refuse_unknown(fields, known: set[str], files=None) -> None:
    """A misspelt option would be silently ignored: name it instead."""
    if files is not None:
        known = known | {"file"}
    unknown = sorted((set(fields) | set(files or ())) - known)
    if unknown:
        fields_list = ", ".join(sorted(known))
        raise ValueError(f"Unknown field {unknown[0]!r}; the fields are {fields_list}.")
