from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization


class OrderedJSONField(models.TextField):
    """JSON stored as text, so that the order of an object's keys survives: PostgreSQL's
    jsonb sorts them, and in a workflow's steps order is meaning (a webhook's payload, a
    table's columns, an email's fields are shown and sent in the order the person chose)."""

    # For django-stubs (mypy): the attribute holds any JSON value, not the column's str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class OrgQuerySet(models.QuerySet):
    def for_org(self, org: Organization):
        return self.filter(organization=org)


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


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Trigger(models.TextChoices):
        UPLOAD = "upload", "Upload"
        EMAIL = "email", "Email"
        API = "api", "API"
        RETRY = "retry", "Retry"
        TEST = "test", "Test of a draft"
        RERUN = "rerun", "Re-run on a newer version"
        SCHEDULE = "schedule", "Schedule"
        WEBHOOK = "webhook", "Inbound webhook"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.UPLOAD)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pages_total = models.PositiveIntegerField(default=0)
    pages_done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    pipeline = OrderedJSONField(default=list, blank=True)  # the steps this run executes
    workflow_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    # The workflow a run belongs to: its published version, or its draft when is_test.
    workflow = models.ForeignKey(
        "Workflow", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    is_test = models.BooleanField(default=False)  # a builder's test of the draft

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "workflow", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.document} ({self.status})"

    def output_of(self, step: str) -> dict | None:
        """The output of the first finished step of this kind (e.g. "extract_fields")."""
        for step_run in self.steps.all():
            if step_run.step == step and step_run.status == StepRun.Status.SUCCEEDED:
                return step_run.output
        return None

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.pages_total:
            return 0
        return min(100, round(100 * self.pages_done / self.pages_total))

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class StepRun(models.Model):
    """One step of a run: its result is stored per (run, step) so a redelivered task resumes."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"  # its condition did not hold

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    step_id = models.CharField(max_length=40, default="")
    step = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    input = OrderedJSONField(default=dict, blank=True)  # config with references resolved
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True)  # [{"at", "level", "message"}]
    attempts = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="one_steprun_per_position")
        ]

    def __str__(self) -> str:
        return f"{self.step} ({self.status})"

    @property
    def title(self) -> str:
        return self.step.replace("_", " ").capitalize()


def artifact_path(instance: Artifact, filename: str) -> str:
    doc = instance.run.document
    return f"orgs/{doc.organization_id}/documents/{doc.uid}/runs/{instance.run_id}/{instance.uid}"


class Artifact(models.Model):
    """A file a step made (a redacted PDF, an export), served through its organization."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    step_id = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    file = models.FileField(upload_to=artifact_path, max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


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


class Workflow(models.Model):
    """An automation an organization builds: a draft that is edited, and published versions
    that never change. Every run records the version it used."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    draft = OrderedJSONField(default=list, blank=True)  # the steps being edited
    draft_updated_at = models.DateTimeField(default=timezone.now)
    draft_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = OrderedJSONField()
    note = models.CharField(max_length=200, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A published workflow version never changes; publish a new one.")
        super().save(*args, **kwargs)


class DataTable(models.Model):
    """A table an organization keeps in the dashboard: the table action appends a row per
    run; people view, sort, edit and export it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=120)
    columns = models.JSONField(default=list, blank=True)  # column names, in order
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="one_table_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class TableRow(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    table = models.ForeignKey(DataTable, on_delete=models.CASCADE, related_name="rows")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    step_id = models.CharField(max_length=40, blank=True)
    document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    values = models.JSONField(default=dict, blank=True)  # column name -> value (string or null)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # a redelivered table step appends its row once
            models.UniqueConstraint(
                fields=["table", "run", "step_id"],
                name="one_row_per_run_step",
                condition=models.Q(run__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"Row {self.pk} of {self.table}"


class SentEmail(models.Model):
    """One message the email step sent (or is sending): the organization's daily sending
    quota counts these rows' recipients (automations/delivery.py)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipients = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "sent_at"], name="sentemail_org_time")]

    def __str__(self) -> str:
        return f"{self.recipients} recipient(s) at {self.sent_at:%Y-%m-%d %H:%M}"
