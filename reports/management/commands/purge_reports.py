"""`manage.py purge_reports [--days N] [--json]`: the daily retention purge, now, with progress."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from reports import retention


class Command(BaseCommand):
    help = "Delete closed viewer sessions, samples and broadcasts older than REPORT_RETENTION_DAYS, in batches."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--days", type=int, help="keep this many days instead of REPORT_RETENTION_DAYS (>= 1)")
        parser.add_argument("--batch", type=int, default=retention.BATCH, help="rows per DELETE")
        parser.add_argument("--json", action="store_true", help="one JSON document with the counts on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        days, batch = options["days"], options["batch"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if batch < 1:
            raise CommandError("--batch must be at least 1")

        def progress(what: str, done: int) -> None:
            self.stderr.write(f"{what}: {done} deleted so far")

        result = retention.purge(days=days, batch=batch, progress=progress)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"purged before {result['before']}: {result['sessions']} session(s), "
                f"{result['samples']} sample(s), {result['broadcasts']} broadcast(s)"
            )
