"""The API's schema (GET /api/v1/openapi.json) and its documentation page (GET /api/docs).

Both come from api/openapi.py; neither needs a key. The page is plain HTML and CSS served by
Pyq (static/css/api-docs.css), with nothing from another site.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from api.auth import json_error
from api.openapi import SCHEMAS, schema

METHODS = ("get", "post", "put", "patch", "delete")


@csrf_exempt  # nothing to protect, and any other method answers the API's JSON 405
def openapi_json(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        response = json_error(
            405, "method_not_allowed", f"{request.method} is not allowed here; use GET."
        )
        response["Allow"] = "GET, HEAD"
        return response
    return JsonResponse(schema(), json_dumps_params={"ensure_ascii": False})


@require_GET
def docs_page(request: HttpRequest) -> HttpResponse:
    document = schema()
    return render(
        request,
        "api/docs.html",
        {
            "info": document["info"],
            "groups": endpoint_groups(document),
            "schemas": [
                {"name": name, "description": _described(spec), "fields": _fields(spec)}
                for name, spec in document["components"]["schemas"].items()
            ],
            "base_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )


def endpoint_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations by tag, in the schema's order: what the page shows of each."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                groups.setdefault(operation["tags"][0], []).append(
                    _endpoint(path, method, operation)
                )
    return [{"name": name, "endpoints": endpoints} for name, endpoints in groups.items()]


def _endpoint(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    body = operation.get("requestBody", {}).get("content", {})
    return {
        "anchor": f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}",
        "method": method.upper(),
        "path": path,
        "summary": operation["summary"],
        "description": operation["description"],
        "parameters": [
            {
                "name": p["name"],
                "where": p["in"],
                "required": p.get("required", False),
                "type": _type_name(p["schema"]),
                "description": p.get("description", ""),
            }
            for p in operation.get("parameters", [])
        ],
        "bodies": [
            {"content_type": content_type, "fields": _fields(media.get("schema", {}))}
            for content_type, media in body.items()
        ],
        "responses": [
            {
                "status": status,
                "description": answer["description"],
                "shape": _shape(answer.get("content", {})),
            }
            for status, answer in sorted(operation["responses"].items())
        ],
        "curl": operation.get("x-curl", ""),
    }


def _shape(content: dict[str, Any]) -> str:
    """What a JSON answer is, by its schema's name ("WorkflowDetail"), or ""."""
    spec = content.get("application/json", {}).get("schema", {})
    return _type_name(spec) if "$ref" in spec else ""


def _resolved(spec: dict[str, Any]) -> dict[str, Any]:
    return SCHEMAS[spec["$ref"].rsplit("/", 1)[-1]] if "$ref" in spec else spec


def _described(spec: dict[str, Any]) -> str:
    spec = _resolved(spec)
    if "anyOf" in spec:
        return " ".join(_described(part) for part in spec["anyOf"] if part.get("type") != "null")
    return spec.get("description", "")


def _fields(spec: dict[str, Any]) -> list[dict[str, str]]:
    """The properties of an object schema, those of each part of an allOf first."""
    spec = _resolved(spec)
    fields = [field for part in spec.get("allOf", []) for field in _fields(part)]
    for part in spec.get("anyOf", []):
        fields += _fields(part)
    fields += [
        {"name": name, "type": _type_name(prop), "description": prop.get("description", "")}
        for name, prop in spec.get("properties", {}).items()
    ]
    latest = {field["name"]: field for field in fields}  # an allOf part may refine a field
    return list(latest.values())


def _type_name(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " or ".join(_type_name(part) for part in spec["anyOf"])
    if "enum" in spec:
        return " | ".join(str(value) for value in spec["enum"])
    kind = spec.get("type", "any")
    if kind == "array":
        return f"array of {_type_name(spec.get('items', {}))}"
    if kind == "object" and "additionalProperties" in spec:
        return f"object of {_type_name(spec['additionalProperties'])}"
    return f"{kind} ({spec['format']})" if "format" in spec else str(kind)
