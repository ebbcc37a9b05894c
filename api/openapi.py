"""The API described as OpenAPI 3.1, by hand: one entry per route of api/urls.py.

tests/api/test_openapi.py walks api/urls.py and fails when a route or one of its methods is
missing here, so a new endpoint cannot ship undocumented. The documentation page
(/api/docs, api/docs.py) is rendered from this schema.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from api.pages import MAX_PAGE, PAGE_SIZE
from automations.models import Run
from pyq_site.inputs import MAX_INT

PREFIX = "/api/v1"
JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], description: str = "") -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }
    if description:
        schema["description"] = description
    return schema


def _page_of(name: str, item: str) -> Schema:
    return _object(
        {
            "count": {"type": "integer"},
            "page": {"type": "integer"},
            "pages": {"type": "integer"},
            "next": _nullable(_string("The next page's URL", format="uri")),
            "previous": _nullable(_string("The previous page's URL", format="uri")),
            name: {"type": "array", "items": ref(item)},
        }
    )


MOMENT = _nullable(_string(format="date-time"))
MOMENT_OR_DAY = {"anyOf": [_string(format="date"), _string(format="date-time")]}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": _string("Stable, for programs (e.g. not_found, invalid_parameter)"),
                    "message": _string("For people: what was wrong and what to do"),
                }
            )
        },
        "Every error. Some add keys beside `error` (an upload's `rejected`).",
    ),
    "RunSummary": _object(
        {
            "id": {"type": "integer"},
            "status": _string(enum=list(Run.Status.values)),
            "finished_at": MOMENT,
        }
    ),
    "Document": _object(
        {
            "id": _string("The document's id", format="uuid"),
            "name": _string(),
            "kind": _string("pdf, image, text, email, ..."),
            "mime_type": _string(),
            "size": {"type": "integer", "description": "Bytes"},
            "pages": {"type": "integer"},
            "source": _string("upload, email, api, ..."),
            "parent": _nullable(_string("The mail it came attached to", format="uuid")),
            "created_at": _string(format="date-time"),
            "run": _nullable(ref("RunSummary")),
        },
        "A document; `run` is its latest run.",
    ),
    "DocumentDetail": {
        "allOf": [
            ref("Document"),
            _object(
                {
                    "content": _object(
                        {"text": _string(), "pages": {"type": "array", "items": {"type": "object"}}}
                    ),
                    "attachments": {"type": "array", "items": ref("Document")},
                    "run": _nullable(ref("RunDetail")),
                }
            ),
        ]
    },
    "Uploaded": _object(
        {
            "documents": {"type": "array", "items": ref("Document")},
            "rejected": {
                "type": "array",
                "items": _object({"name": _string(), "error": _string()}),
            },
        },
        "The files accepted (each with its queued run) and those refused.",
    ),
    "RunWorkflow": _nullable(
        _object(
            {
                "id": {"type": "integer"},
                "name": _nullable(_string()),
                "version": _nullable({"type": "integer"}),
            },
            "The workflow and version the run belongs to; null for the default reading.",
        )
    ),
    "Run": _object(
        {
            "id": {"type": "integer"},
            "status": _string(enum=list(Run.Status.values)),
            "trigger": _string(enum=list(Run.Trigger.values)),
            "workflow": ref("RunWorkflow"),
            "document": _object({"id": _string(format="uuid"), "name": _string()}),
            "created_at": _string(format="date-time"),
            "started_at": MOMENT,
            "finished_at": MOMENT,
        }
    ),
    "Field": {
        "type": "object",
        "properties": {
            "value": {},
            "confidence": _nullable({"type": "number"}),
            "currency": _string("Money fields only"),
        },
        "required": ["value", "confidence"],
    },
    "RunDetail": {
        "allOf": [
            ref("Run"),
            _object(
                {
                    "pages_total": {"type": "integer"},
                    "pages_done": {"type": "integer"},
                    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                    "error": _string(),
                    "warnings": {"type": "array"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": ref("Field"),
                        "description": "What extract_fields found, in the fields' order",
                    },
                    "steps": {"type": "array", "items": ref("Step")},
                }
            ),
        ]
    },
    "Step": _object(
        {
            "position": {"type": "integer"},
            "step": _string("The step's kind, e.g. extract_text"),
            "status": _string(),
            "started_at": MOMENT,
            "finished_at": MOMENT,
            "output": {"description": "The step's output, as the run page shows it"},
            "error": _string(),
        }
    ),
    "Workflow": _object(
        {
            "id": {"type": "integer"},
            "name": _string(),
            "description": _string(),
            "created_at": _string(format="date-time"),
            "current_version": _nullable(
                {"type": "integer", "description": "The published version uploads run"}
            ),
        }
    ),
    "Version": _object(
        {
            "number": {"type": "integer"},
            "note": _string(),
            "published_at": _string(format="date-time"),
            "steps": {"type": "array", "items": _string(), "description": "Its steps' kinds"},
        }
    ),
    "Trigger": _object(
        {
            "id": {"type": "integer"},
            "kind": _string(enum=["webhook", "email", "schedule"]),
            "paused": {"type": "boolean"},
            "token_end": _string("The last 4 characters of its secret, never the whole"),
            "created_at": _string(format="date-time"),
            "last_used_at": MOMENT,
        },
        "A way in to the workflow besides the API (its secret is never shown whole).",
    ),
    "WorkflowDetail": {
        "allOf": [
            ref("Workflow"),
            _object(
                {
                    "versions": {"type": "array", "items": ref("Version")},
                    "triggers": {"type": "array", "items": ref("Trigger")},
                }
            ),
        ]
    },
    "Model": _object(
        {
            "slug": _string(),
            "name": _string(),
            "task": _string(),
            "step": _string(),
            "summary": _string(),
            "license": _string(),
            "languages": _string('e.g. "English" or "Multilingual"'),
            "source": _string(),
            "options": {"type": "array", "items": _string()},
            "measurements": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Measured tables: each a title, rows of label and value, a note",
            },
        }
    ),
    "Prediction": _object(
        {
            "model": _string(),
            "output": {"type": "object"},
            "warnings": {"type": "array"},
            "pages": {"type": "integer"},
            "artifacts": {"type": "array"},
        }
    ),
    "PredictInput": {
        "type": "object",
        "properties": {
            "text": _string(),
            "labels": {"type": "array", "items": _string()},
            "threshold": {"type": "number"},
            "fields": {"type": "array", "items": {}},
            "sentences": {"type": "integer"},
            "kinds": {"type": "array", "items": _string()},
            "model": _string("A catalog model's slug"),
            "classifier": _string("A catalog model's slug"),
        },
        "additionalProperties": False,
    },
}


# --- parameters, bodies and answers --------------------------------------------------------


def _path_parameter(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


WORKFLOW_ID = _path_parameter("workflow_id", "The workflow's id", {"type": "integer"})
PAGE = _query(
    "page",
    f"Page number, from 1 ({PAGE_SIZE} items a page)",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "1 to 255 printable ASCII characters, one per operation (a UUID). The same key with "
        "the same request answers the first answer again (Idempotent-Replayed: true) and makes "
        "nothing twice; with another request, 422 idempotency_key_reused."
    ),
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}


def _error(description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


def _ok(description: str, schema: Schema, status: str = "200") -> dict[str, Schema]:
    return {status: {"description": description, "content": {JSON: {"schema": schema}}}}


AUTH_ERRORS = {
    "401": _error("No API key, or one that is not valid or revoked (missing_key, invalid_key)"),
    "403": _error("The key may not do this (forbidden)"),
    "429": _error("Over the key's or the organization's rate limit (rate_limited)"),
}
PAGE_ERRORS = {
    "400": _error("page is not a whole number from 1 (invalid_page)"),
    "404": _error("There is no such page (not_found)"),
}
NOT_FOUND = {"404": _error("No such object in the key's organization (not_found)")}
POST_ERRORS = {
    "409": _error("Another request with this Idempotency-Key is being answered"),
    "422": _error("This Idempotency-Key was used for another request"),
}


def _files_body(extra: dict[str, Schema] | None = None) -> Schema:
    properties: dict[str, Schema] = {
        "file": {
            "type": "array",
            "items": _string(contentMediaType="application/octet-stream"),
            "minItems": 1,
            "maxItems": settings.PYQ_MAX_FILES_PER_UPLOAD,
            "description": "One or more files, each its own `file` field",
        },
        **(extra or {}),
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": properties, "required": ["file"]}
            }
        },
    }


def _upload_answers() -> dict[str, Schema]:
    return {
        **_ok("At least one file was accepted", ref("Uploaded"), "201"),
        "400": _error("No files, an unknown field, or every file refused (rejected)"),
        "413": _error("Files too large or too many (too_large, too_many_files)"),
    }


def _operation(
    summary: str,
    description: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    example: str = "",
) -> Schema:
    operation: Schema = {
        "summary": summary,
        "description": description,
        "tags": [tag],
        "parameters": parameters or [],
        "responses": {**responses, **AUTH_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = body
    if example:
        operation["x-curl"] = example
    return operation


CURL = 'curl -H "Authorization: Bearer $PYQ_KEY"'


def _paths() -> dict[str, Schema]:
    files = settings.PYQ_MAX_FILES_PER_UPLOAD
    size = settings.PYQ_MAX_UPLOAD_MB
    return {
        "/workflows": {
            "get": _operation(
                "List workflows",
                "The organization's workflows by name, 50 a page.",
                {
                    **_ok("A page of workflows", _page_of("workflows", "Workflow")),
                    **PAGE_ERRORS,
                },
                tag="Workflows",
                parameters=[PAGE],
                example=f"{CURL} $PYQ/api/v1/workflows",
            )
        },
        "/workflows/{workflow_id}": {
            "get": _operation(
                "Read a workflow",
                "A workflow with its published versions (newest first) and its triggers.",
                {**_ok("The workflow", ref("WorkflowDetail")), **NOT_FOUND},
                tag="Workflows",
                parameters=[WORKFLOW_ID],
                example=f"{CURL} $PYQ/api/v1/workflows/12",
            )
        },
        "/workflows/{workflow_id}/documents": {
            "post": _operation(
                "Send documents to a workflow",
                f"Each `file` (up to {files} files of {size} MB) becomes a document with a run "
                "of the workflow's current published version, queued for the workers.",
                {
                    **_upload_answers(),
                    **NOT_FOUND,
                    "409": _error(
                        "The workflow has no published version (not_published), or the "
                        "Idempotency-Key is in use"
                    ),
                    "422": POST_ERRORS["422"],
                },
                tag="Workflows",
                parameters=[WORKFLOW_ID, IDEMPOTENCY_KEY],
                body=_files_body(),
                example=(
                    f'{CURL} -H "Idempotency-Key: $(uuidgen)" -F file=@invoice.pdf '
                    "-F file=@receipt.jpg $PYQ/api/v1/workflows/12/documents"
                ),
            )
        },
        "/workflows/{workflow_id}/export": {
            "get": _operation(
                "Export a workflow's fields",
                "The fields each finished run of the workflow found, oldest first: CSV (UTF-8, "
                "formulas escaped), XLSX or JSON. `since` and `until` are days, inclusive, on "
                "when a run was created.",
                {
                    "200": {
                        "description": "The export, as an attachment",
                        "content": {
                            "text/csv": {"schema": _string()},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": _string(contentEncoding="binary")
                            },
                            JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                        },
                    },
                    "400": _error("A bad format or date, or an unknown parameter"),
                    **NOT_FOUND,
                },
                tag="Workflows",
                parameters=[
                    WORKFLOW_ID,
                    _query(
                        "format",
                        "csv (the default), xlsx or json",
                        _string(enum=["csv", "xlsx", "json"]),
                    ),
                    _query("since", "First day, e.g. 2026-11-01", _string(format="date")),
                    _query("until", "Last day, e.g. 2026-11-30", _string(format="date")),
                ],
                example=(
                    f"{CURL} -o runs.xlsx "
                    "'$PYQ/api/v1/workflows/12/export?format=xlsx&since=2026-11-01'"
                ),
            )
        },
        "/runs": {
            "get": _operation(
                "List runs",
                "The organization's runs, newest first, 50 a page (a builder's tests of a "
                "draft are left out). `since` and `until` take a date (the whole day) or a "
                "date and time, on when a run was created.",
                {
                    **_ok("A page of runs", _page_of("runs", "Run")),
                    "400": _error("A bad filter, page or an unknown parameter"),
                    "404": _error(
                        "No such workflow in the key's organization, or no such page (not_found)"
                    ),
                },
                tag="Runs",
                parameters=[
                    _query(
                        "workflow",
                        "A workflow's id",
                        {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    ),
                    _query("status", "One status", _string(enum=list(Run.Status.values))),
                    _query("since", "Created on or after (a date: from its start)", MOMENT_OR_DAY),
                    _query("until", "Created on or before (a date: to its end)", MOMENT_OR_DAY),
                    PAGE,
                ],
                example=f"{CURL} '$PYQ/api/v1/runs?workflow=12&status=failed&since=2026-11-01'",
            )
        },
        "/runs/{run_id}": {
            "get": _operation(
                "Read a run",
                "A run with every step's output and the fields it found.",
                {**_ok("The run", ref("RunDetail")), **NOT_FOUND},
                tag="Runs",
                parameters=[_path_parameter("run_id", "The run's id", {"type": "integer"})],
                example=f"{CURL} $PYQ/api/v1/runs/345",
            )
        },
        "/documents": {
            "get": _operation(
                "List documents",
                "The organization's documents, newest first, 50 a page.",
                {
                    **_ok("A page of documents", _page_of("documents", "Document")),
                    **PAGE_ERRORS,
                },
                tag="Documents",
                parameters=[PAGE],
                example=f"{CURL} $PYQ/api/v1/documents",
            ),
            "post": _operation(
                "Send documents",
                f"Each `file` (up to {files} files of {size} MB) becomes a document with a run "
                "of the default reading, or of `pipeline` (JSON steps) when given.",
                {**_upload_answers(), **POST_ERRORS},
                tag="Documents",
                parameters=[IDEMPOTENCY_KEY],
                body=_files_body({"pipeline": _string("The steps to run, as JSON")}),
                example=(
                    f'{CURL} -H "Idempotency-Key: $(uuidgen)" -F file=@a.pdf $PYQ/api/v1/documents'
                ),
            ),
        },
        "/documents/{uid}": {
            "get": _operation(
                "Read a document",
                "A document with its text page by page, its attachments and its latest run.",
                {**_ok("The document", ref("DocumentDetail")), **NOT_FOUND},
                tag="Documents",
                parameters=[_path_parameter("uid", "The document's id", _string(format="uuid"))],
                example=f"{CURL} $PYQ/api/v1/documents/0b7e...",
            )
        },
        "/models": {
            "get": _operation(
                "List models",
                "The catalog's models, with their options and measurements.",
                _ok("The models", _object({"models": {"type": "array", "items": ref("Model")}})),
                tag="Models",
                example=f"{CURL} $PYQ/api/v1/models",
            )
        },
        "/models/{slug}/predict": {
            "post": _operation(
                "Run a model",
                "JSON with `text` and options, or multipart with a `file` and `options` (JSON).",
                {
                    **_ok("The model's output", ref("Prediction")),
                    "400": _error("Bad input or an unknown field"),
                    **NOT_FOUND,
                    **POST_ERRORS,
                    "422": _error(
                        "The model failed (model_failed), or the Idempotency-Key was reused"
                    ),
                    "503": _error("No worker answered in time (unavailable)"),
                },
                tag="Models",
                parameters=[
                    _path_parameter("slug", "The model's slug", _string()),
                    IDEMPOTENCY_KEY,
                ],
                body={
                    "required": True,
                    "content": {
                        JSON: {"schema": ref("PredictInput")},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": _string(contentMediaType="application/octet-stream"),
                                    "text": _string(),
                                    "options": _string("The options, as JSON"),
                                },
                            }
                        },
                    },
                },
                example=(
                    f'{CURL} -H \'Content-Type: application/json\' -d \'{{"text": "Invoice 42", '
                    '"labels": ["invoice", "receipt"]}\' '
                    "$PYQ/api/v1/models/minilm-classifier/predict"
                ),
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This schema",
                "description": "The API as OpenAPI 3.1; no key needed.",
                "tags": ["Schema"],
                "security": [],
                "parameters": [],
                "responses": {
                    **_ok("The schema", {"type": "object"}),
                    "405": _error("Only GET (method_not_allowed)"),
                },
                "x-curl": "curl $PYQ/api/v1/openapi.json",
            }
        },
    }


def schema() -> Schema:
    """The whole document; paths are under /api/v1."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pyq API",
            "version": "1",
            "description": (
                "Send documents to Pyq, follow their runs and read what they found. "
                "Authenticate with an organization's API key (Settings → API keys) as "
                "`Authorization: Bearer pyq_…` or `X-Api-Key: pyq_…`; every object is looked up "
                "in the key's organization. Errors are JSON: "
                '{"error": {"code": "...", "message": "..."}}.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {f"{PREFIX}{path}": item for path, item in _paths().items()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
