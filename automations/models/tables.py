"""Tables an organization keeps in the dashboard, and their rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from automations.models.common import OrgQuerySet
from automations.models.documents import Document
from automations.models.runs import Run


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
