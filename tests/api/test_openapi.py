"""The OpenAPI schema describes every route of api/urls.py, and the docs page shows it."""

from __future__ import annotations

import re

from django.urls import URLPattern, get_resolver
from jsonschema import Draft202012Validator

from api import urls
from api.openapi import schema
from automations.triggers import create_trigger
from tests.api.conftest import finished_run
from tests.automations.helpers import upload

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def routes() -> dict[str, set[str]]:
    """Every route of api/urls.py as the schema writes it, with its methods."""
    found: dict[str, set[str]] = {}
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern), "api/urls.py includes another urls module"
        path = "/api/v1/" + PARAMETER.sub(r"{\1}", str(pattern.pattern))
        methods = getattr(pattern.callback, "api_methods", None) or ["GET"]
        found[path] = {method.lower() for method in methods}
    return found


def test_every_route_and_method_is_in_the_schema():
    paths = schema()["paths"]
    for path, methods in routes().items():
        assert path in paths, f"{path} is missing from api/openapi.py"
        for method in methods:
            assert method in paths[path], f"{method.upper()} {path} is missing from api/openapi.py"
    assert set(paths) == set(routes()), "api/openapi.py describes a route that does not exist"


def test_the_resolver_serves_api_urls_from_api_urls():
    """The routes walked above are the ones Django serves under /api/v1/."""
    resolver = get_resolver()
    api = next(p for p in resolver.url_patterns if str(p.pattern) == "api/v1/")
    assert api.urlconf_module is urls


def test_every_operation_is_complete():
    document = schema()
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"], where
            assert operation["description"], where
            assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == names
            assert "200" in operation["responses"] or "201" in operation["responses"], where
            assert operation.get("x-curl", "").startswith("curl"), where
            if method == "post":
                assert "requestBody" in operation, where
                assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}, where


def test_every_reference_resolves():
    document = schema()
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"], name


def test_the_schema_is_served_without_a_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0"
    assert "/api/v1/workflows/{workflow_id}/export" in body["paths"]
    refused = client.post("/api/v1/openapi.json")
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "method_not_allowed"


def test_the_docs_page_shows_every_endpoint_with_nothing_from_elsewhere(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    for path in routes():
        assert f"<code>{path}</code>" in page, path
    assert "curl -H &quot;Authorization: Bearer $PYQ_KEY&quot;" in page
    assert "/static/css/api-docs.css" in page
    assert '<a href="#schema-WorkflowDetail">WorkflowDetail</a>' in page
    assert 'id="schema-RunDetail"' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "an asset from elsewhere"
    assert "<script" not in page
    assert "style=" not in page


# --- the answers are what the schema says ---------------------------------------------------


def conforms(body, name: str) -> None:
    """Validate `body` against components/schemas/`name` (OpenAPI 3.1 schemas are JSON Schema
    2020-12)."""
    components = schema()["components"]
    Draft202012Validator.check_schema({"$defs": components["schemas"]})
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    Draft202012Validator(root).validate(body)


def test_the_answers_match_their_schemas(api, published, sent, owner):
    create_trigger(published, "webhook", user=owner.user)
    uploaded = api.post(
        f"/api/v1/workflows/{published.pk}/documents", {"file": upload("a.txt", b"Invoice 1")}
    ).json()
    conforms(uploaded, "Uploaded")
    finished_run(
        published, "b.pdf", {"total": {"value": "9", "confidence": 0.5, "currency": "EUR"}}
    )
    conforms(api.get(f"/api/v1/workflows/{published.pk}").json(), "WorkflowDetail")
    for item in api.get("/api/v1/workflows").json()["workflows"]:
        conforms(item, "Workflow")
    runs = api.get("/api/v1/runs").json()["runs"]
    for item in runs:
        conforms(item, "Run")
        conforms(api.get(f"/api/v1/runs/{item['id']}").json(), "RunDetail")
    for item in api.get("/api/v1/documents").json()["documents"]:
        conforms(item, "Document")
        conforms(api.get(f"/api/v1/documents/{item['id']}").json(), "DocumentDetail")
    conforms(api.get("/api/v1/runs", {"status": "nope"}).json(), "Error")
