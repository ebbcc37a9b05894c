"""Documents, their pages and their embeddings."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from automations.models.common import OrgQuerySet

if TYPE_CHECKING:
    from automations.models.runs import Run


def document_path(instance: Document, filename: str) -> str:
    # The stored name is ours; the user's file name is only shown, never used as a path.
    return f"orgs/{instance.organization_id}/documents/{instance.uid}/original{instance.extension}"


def page_image_path(instance: Page, filename: str) -> str:
    doc = instance.document
    return f"orgs/{doc.organization_id}/documents/{doc.uid}/pages/{instance.number}.jpg"


class Document(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        EMAIL = "email", "Email attachment"
        API = "api", "API"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="documents"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    original_name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10)  # pdf, png, jpeg, tiff, docx, txt, eml
    mime_type = models.CharField(max_length=100)
    extension = models.CharField(max_length=10)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(upload_to=document_path, max_length=300)
    page_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    doc_type = models.CharField("document type", max_length=60, blank=True)
    tags = models.JSONField(default=list, blank=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return self.original_name

    @property
    def latest_run(self) -> Run | None:
        runs = list(self.runs.all())  # newest first (Meta.ordering); uses a prefetch if any
        return runs[0] if runs else None

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages.order_by("number"))


class Page(models.Model):
    class Method(models.TextChoices):
        TEXT_LAYER = "text_layer", "PDF text layer"
        OCR = "ocr", "OCR"
        DOCX = "docx", "Word document"
        TEXT = "text", "Plain text"
        EMAIL = "email", "Email"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    method = models.CharField(max_length=20, choices=Method.choices)
    ocr_confidence = models.FloatField(null=True, blank=True)
    image = models.ImageField(upload_to=page_image_path, blank=True, max_length=300)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    lines = models.JSONField(default=list, blank=True)  # OCR lines: text, confidence, box

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="one_page_per_number")
        ]

    def __str__(self) -> str:
        return f"{self.document} p.{self.number}"


class DocumentEmbedding(models.Model):
    """A document's text embedding, for near-duplicate search within its organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=100)
    vector = models.BinaryField()  # float32, L2-normalised

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "model"], name="one_embedding_per_model")
        ]
        indexes = [models.Index(fields=["organization", "model"])]

    def __str__(self) -> str:
        return f"{self.model} embedding of {self.document}"
