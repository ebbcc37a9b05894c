"""REST API v1: send documents, list them, read their text and their runs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.paginator import EmptyPage, Paginator
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse

from api import serializers
from api.auth import api_view, json_error, not_found
from automations import intake
from automations.engine.pipeline import parse_pipeline
from automations.engine.steps import StepConfigError
from automations.models import Document, Run
from pyq_site.errors import describe
from pyq_site.inputs import InputError, load_json, optional_int
from pyq_site.uploads import max_upload_bytes

PAGE_SIZE = 50
MAX_PAGE = 10**9
MAX_PIPELINE_BYTES = 256 * 1024
MULTIPART_SLACK = 1024 * 1024  # form boundaries and headers around the files


@api_view(["GET", "POST"])
def documents(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return _upload(request)
    return _list(request)


def _list(request: HttpRequest) -> JsonResponse:
    """Newest first, PAGE_SIZE a page; "next" and "previous" are URLs or null."""
    raw_page = request.GET.get("page", "1")
    number = optional_int(raw_page, minimum=1, maximum=MAX_PAGE)
    if number is None:
        return json_error(400, "invalid_page", "page must be a whole number from 1.")
    queryset = (
        Document.objects.for_org(request.org).select_related("parent").prefetch_related("runs")
    )
    paginator = Paginator(queryset, PAGE_SIZE)
    try:
        page = paginator.page(number)
    except EmptyPage:
        return json_error(
            404, "not_found", f"There is no page {number}; there are {paginator.num_pages}."
        )
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": (
                _page_url(request, page.previous_page_number()) if page.has_previous() else None
            ),
            "documents": [serializers.document_summary(d) for d in page.object_list],
        }
    )


def _page_url(request: HttpRequest, number: int) -> str:
    return request.build_absolute_uri(f"{reverse('api:documents')}?page={number}")


def _upload(request: HttpRequest) -> JsonResponse:
    """Ingest every `file` field; 201 if any was accepted, with the rejected ones beside."""
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
    unknown = sorted((set(request.POST) - {"pipeline"}) | (set(request.FILES) - {"file"}))
    if unknown:
        return json_error(
            400,
            "unknown_field",
            f"Unknown field {unknown[0]!r}: send files as 'file' and, if you like, a 'pipeline'.",
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


@api_view(["GET"])
def run(request: HttpRequest, run_id: str) -> JsonResponse:
    pk = optional_int(run_id, minimum=1)
    if pk is None:
        return not_found("run")
    found = (
        Run.objects.for_org(request.org)
        .select_related("document")
        .prefetch_related("steps")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        return not_found("run")
    return JsonResponse(serializers.run_detail(found))
