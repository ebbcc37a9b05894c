"""Triggers: the ways documents come into a workflow (a secret URL, a mail address, a
schedule), one row per way in. A trigger belongs to the workflow, not to a version: it
always starts the workflow's current published version, and pausing it or changing its
secret needs no publish."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from automations.models.common import OrgQuerySet
from automations.models.workflows import Workflow


class Trigger(models.Model):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Web address"
        EMAIL = "email", "Email address"
        SCHEDULE = "schedule", "Schedule"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="triggers"
    )
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The secret in the trigger's URL (/hooks/<token>) or mail address; unique (and so
    # indexed), made by secrets. Rotating it makes a new one; the old one stops working.
    token = models.CharField(max_length=64, unique=True)
    # A mail trigger's address before the @: "<slug of the workflow's name>-<token>", stored
    # when it is made or rotated, so that renaming the workflow keeps the address.
    address = models.CharField(max_length=120, blank=True, db_index=True)
    paused = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.workflow}"
