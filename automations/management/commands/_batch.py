"""Shared by the batch commands: one JSON object per line, in the order the files were given."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization


def find_org(slug: str | None) -> Organization | None:
    if slug is None:
        return None
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise CommandError(f"There is no organization with the slug {slug!r}.")
    return org


def emit_each(command: BaseCommand, files: Iterable[str], handle: Callable[[str], dict]) -> int:
    """Print handle(file) for each file, or {"file", "error"}; returns how many failed."""
    failures = 0
    for path in files:
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError("No such file.")
            line = {"file": path, **handle(path)}
        except Exception as exc:  # one bad file must not stop the batch
            failures += 1
            line = {"file": path, "error": str(exc) or exc.__class__.__name__}
        command.stdout.write(json.dumps(line, ensure_ascii=False))
        command.stdout.flush()
    return failures
