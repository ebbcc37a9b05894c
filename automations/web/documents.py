"""Document pages: the list with its upload form, one document with its pages and fields,
its files, reading it again and deleting it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_member
from automations import intake
from automations.documents import delete_document
from automations.engine.fields.evidence import highlights
from automations.engine.fields.order import ordered_fields
from automations.models import Artifact, Document, Page
from automations.runs import control
from automations.web.forms import UploadForm

PAGE_SIZE = 25


def _document(request, uid) -> Document:
    return get_object_or_404(Document.objects.for_org(request.org), uid=uid)


def _documents_page(request):
    documents = (
        Document.objects.for_org(request.org)
        .select_related("uploaded_by", "parent")
        .prefetch_related("runs")
    )
    return Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))


@org_member("view")
def document_list(request):
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not request.membership.can("write"):
            raise PermissionDenied("Viewers cannot upload documents.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            accepted, rejected = intake.ingest_many(
                request.org, form.cleaned_data["files"], user=request.user
            )
            if accepted:
                names = ", ".join(d.original_name for d in accepted[:3])
                more = f" and {len(accepted) - 3} more" if len(accepted) > 3 else ""
                messages.success(request, f"Uploaded {names}{more}. Reading them now.")
            if not rejected:
                return redirect("automations:documents")
            for rejection in rejected:
                form.add_error("files", str(rejection))
        status = 400
    return render(
        request,
        "automations/document_list.html",
        {"form": form, "page_obj": _documents_page(request)},
        status=status,
    )


@org_member("view")
def document_detail(request, uid):
    document = _document(request, uid)
    run = document.latest_run
    fields = (run.output_of("extract_fields") or {}) if run else {}
    pages = list(document.pages.all())
    for page in pages:
        page.highlights = highlights(fields.get("fields"), page.number, page.width, page.height)
    return render(
        request,
        "automations/document_detail.html",
        {
            "document": document,
            "run": run,
            "pages": pages,
            "attachments": document.attachments.all(),
            "steps": run.steps.all() if run else [],
            "doc_type": run.output_of("classify") if run else None,
            "fields": fields,
            "field_rows": ordered_fields(fields),
            "duplicates": run.output_of("similar_documents") if run else None,
            "artifacts": run.artifacts.order_by("created_at") if run else [],
        },
    )


@require_GET
@org_member("view")
def page_image(request, uid, number: int):
    page = get_object_or_404(Page, document=_document(request, uid), number=number)
    if not page.image:
        raise Http404("This page has no image.")
    response = FileResponse(page.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@org_member("view")
def document_file(request, uid):
    document = _document(request, uid)
    return FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.original_name,
        content_type=document.mime_type,
    )


@require_GET
@org_member("view")
def artifact_file(request, uid, artifact):
    """A file a step made for this document (a redacted PDF), through its organization."""
    found = get_object_or_404(Artifact, uid=artifact, run__document=_document(request, uid))
    return FileResponse(
        found.file.open("rb"),
        as_attachment=True,
        filename=found.name,
        content_type=found.content_type,
    )


@require_POST
@org_member("write")
def document_reprocess(request, uid):
    document = _document(request, uid)
    control.reprocess(document, user=request.user)
    messages.success(request, f"Reading {document.original_name} again.")
    return redirect("automations:document", uid=document.uid)


@require_POST
@org_member("write")
def document_delete(request, uid):
    document = _document(request, uid)
    name = document.original_name
    delete_document(document)
    messages.success(request, f"Deleted {name}.")
    return redirect("automations:documents")
