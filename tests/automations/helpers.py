from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Organization
from automations import intake
from automations.models import Document


def upload(name: str, data: bytes, mime: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=mime)


def make_document(org: Organization, name: str, data: bytes, user=None) -> Document:
    """Store a document the way an upload does (the run is queued, not executed)."""
    return intake.ingest(org, io.BytesIO(data), name, user=user)


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
