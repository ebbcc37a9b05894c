"""Delete the Idempotency-Key answers older than a day (or --hours); run it daily from cron."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from api.idempotency import KEEP, purge


class Command(BaseCommand):
    help = "Delete the answers kept for Idempotency-Key older than --hours (24)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=int, default=int(KEEP.total_seconds() // 3600))

    def handle(self, *args, hours: int, **options) -> None:
        deleted = purge(timedelta(hours=max(0, hours)))
        self.stdout.write(f"Deleted {deleted} idempotency answers older than {hours} hours.")
