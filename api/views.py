"""REST API v1: send documents, list them, read their text."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

from api import pages, serializers
from api.auth import api_view, json_error, not_found
from api.idempotency import idempotent
from automations import intake
from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError
from automations.models import Document, Run, WorkflowVersion
from pyq_site.errors import describe
from pyq_site.inputs import InputError, load_json
from pyq_site.uploads import max_upload_bytes

MAX_PIPELINE_BYTES = 256 * 1024
MULTIPART_SLACK = 1024 * 1024  # form boundaries and headers around the files


@api_view(["GET", "POST"])
@idempotent
def documents(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _upload(request)
    return _list(request)


def _list(request: HttpRequest) -> JsonResponse:
    """Newest first, PAGE_SIZE a page; "next" and "previous" are URLs or null."""
    number = pages.page_number(request)
    if number is None:
        return pages.bad_page()
    queryset = (
        Document.objects.for_org(request.org).select_related("parent").prefetch_related("runs")
    )
    return pages.paginated(request, queryset, number, "documents", serializers.document_summary)


def _upload(request: HttpRequest) -> JsonResponse:
    """Ingest every `file` field; 201 if any was accepted, with the rejected ones beside."""
    return upload_files(request, version=None)


def upload_files(request: HttpRequest, version: WorkflowVersion | None) -> JsonResponse:
    """Ingest every `file` field, through `version` when given (then no `pipeline` field);
    201 if any was accepted, with the rejected ones beside."""
    limit = max_upload_bytes()
    content_length = int(request.META.get("CONTENT_LENGTH") or 0)
    if content_length > limit * settings.PYQ_MAX_FILES_PER_UPLOAD + MULTIPART_SLACK:
        return json_error(413, "too_large", _size_message())
    try:
        uploads = request.FILES.getlist("file")
    except TooManyFilesSent:
        return _too_many_files()
    except (RequestDataTooBig, TooManyFieldsSent, MultiPartParserError) as exc:
        return json_error(*describe(exc))
    if not uploads:
        return json_error(
            400, "no_files", "Send one or more files as multipart/form-data fields named 'file'."
        )
    fields = {"pipeline"} if version is None else set()
    unknown = sorted((set(request.POST) - fields) | (set(request.FILES) - {"file"}))
    if unknown:
        also = " and, if you like, a 'pipeline'" if version is None else ""
        return json_error(
            400, "unknown_field", f"Unknown field {unknown[0]!r}: send files as 'file'{also}."
        )
    if len(uploads) > settings.PYQ_MAX_FILES_PER_UPLOAD:
        return _too_many_files()
    try:
        pipeline = _pipeline(request.POST.get("pipeline"))
    except StepConfigError as exc:
        return json_error(400, "invalid_pipeline", str(exc))

    accepted, rejections = intake.ingest_many(
        request.org,
        uploads,
        source=Document.Source.API,
        trigger=Run.Trigger.API,
        pipeline=pipeline,
        version=version,
    )
    rejected = [{"name": r.filename, "error": r.message} for r in rejections]
    too_large = sum(upload.size > limit for upload in uploads)
    if not accepted:
        if too_large == len(uploads):
            return json_error(413, "too_large", _size_message(), rejected=rejected)
        message = "The file was rejected." if len(uploads) == 1 else "Every file was rejected."
        return json_error(400, "rejected", message, rejected=rejected)
    prefetch_related_objects(accepted, "runs")  # one query for their runs, not one a file
    return JsonResponse(
        {
            "documents": [serializers.document_summary(d) for d in accepted],
            "rejected": rejected,
        },
        status=201,
    )


def _pipeline(raw: str | None) -> list[dict] | None:
    """An optional `pipeline` field: the steps to run, as JSON (default: the upload pipeline)."""
    if not raw:
        return None
    try:
        steps = load_json(raw, what="'pipeline'", max_bytes=MAX_PIPELINE_BYTES)
    except InputError as exc:
        raise StepConfigError(str(exc)) from exc
    parse_pipeline(steps)
    return steps


def _size_message() -> str:
    return (
        f"Files may be up to {settings.PYQ_MAX_UPLOAD_MB} MB each, "
        f"{settings.PYQ_MAX_FILES_PER_UPLOAD} files a request."
    )


def _too_many_files() -> JsonResponse:
    return json_error(
        413,
        "too_many_files",
        f"Send at most {settings.PYQ_MAX_FILES_PER_UPLOAD} files in one request.",
    )


@api_view(["GET"])
def document(request: HttpRequest, uid: str) -> JsonResponse:
    try:
        uid_value = uuid.UUID(uid)
    except ValueError:
        return not_found("document")
    found = (
        Document.objects.for_org(request.org)
        .select_related("parent")
        .prefetch_related("runs__steps", "pages", "attachments__runs")
        .filter(uid=uid_value)
        .first()
    )
    if found is None:
        return not_found("document")
    return JsonResponse(serializers.document_detail(found))
