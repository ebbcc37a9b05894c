"""The API's own rows: the answers kept for Idempotency-Key (api/idempotency.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Organization

MAX_KEY_LENGTH = 255


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an Idempotency-Key, kept to be given again.

    Written in the same transaction as what the request created, so a key is either stored
    with everything it made or not at all. `fingerprint` is the sha256 of the method, the path
    and the body (multipart: its fields and its files' contents, not its random boundary); the
    same key with another fingerprint is refused. Rows older than a day may be purged
    (`manage.py purge_idempotency_keys`).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="one_idempotency_key_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
