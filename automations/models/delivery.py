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
    # The message's Message-ID, the same when a resumed step sends it again: counted once.
    message_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["organization", "sent_at"], name="sentemail_org_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"],
                name="one_sentemail_per_message_id",
                condition=~models.Q(message_id=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipients} recipient(s) at {self.sent_at:%Y-%m-%d %H:%M}"
