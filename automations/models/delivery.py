"""What the email step sent, which its organization's daily quota counts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Organization
from automations.models.runs import Run


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
