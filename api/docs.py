"""The API's schema (GET /api/v1/openapi.json) and its documentation page (GET /api/docs).

Both come from api/openapi.py; neither needs a key. The page is plain HTML and CSS served by
Pyq (static/css/api-docs.css), with nothing from another site.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from api.openapi import SCHEMAS, schema

METHODS = ("get", "post", "put", "patch", "delete")


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
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
            {"status": status, "description": answer["description"]}
            for status, answer in sorted(operation["responses"].items())
        ],
        "curl": operation.get("x-curl", ""),
    }


def _fields(schema_: dict[str, Any]) -> list[dict[str, str]]:
    if "$ref" in schema_:
        schema_ = SCHEMAS[schema_["$ref"].rsplit("/", 1)[-1]]
    return [
        {"name": name, "type": _type_name(prop), "description": prop.get("description", "")}
        for name, prop in schema_.get("properties", {}).items()
    ]


def _type_name(schema_: dict[str, Any]) -> str:
    if "enum" in schema_:
        return " | ".join(str(value) for value in schema_["enum"])
    kind = schema_.get("type", "any")
    if kind == "array":
        return f"array of {_type_name(schema_.get('items', {}))}"
    return f"{kind} ({schema_['format']})" if "format" in schema_ else str(kind)
