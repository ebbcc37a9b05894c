"""Runs, the rows of their steps, and the files their steps made."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from automations.models.common import OrderedJSONField, OrgQuerySet
from automations.models.documents import Document


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
    # The worker that holds a running run ("host:pid") and until when (its heartbeat renews
    # the lease); another worker may take the run over once the lease has run out or the
    # holder's process is gone (automations/runs/claim.py).
    worker = models.CharField(max_length=255, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When a message was last sent (or is about to be) for this queued run; None while one is
    # owed because the broker could not be reached. The sweeper sends what is owed or old.
    nudged_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
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
    # The way in that started it (a workflow's web address or mail address), besides the
    # kind of start in `trigger`; a retry keeps it, and so do a mail's attachments.
    trigger_ref = models.ForeignKey(
        "Trigger", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )

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
    # What the step began outside Pyq (a webhook's delivery, a mail), written before its first
    # attempt: {"kind", "key", "executions": how many executions of the step began it,
    # "began_at"}. More than one execution: it may have happened twice, with the same key.
    action = models.JSONField(default=dict, blank=True)

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
