"""`manage.py probe worker|beat`: the liveness probe of a Celery worker or of beat (exit 0 while its
heartbeat is fresh, 1 when it is stale or missing, or Redis cannot be read)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ivsproject.api.probes import KINDS, default_node, heartbeat_age


class Command(BaseCommand):
    help = "Exit 0 if the Celery worker's (or beat's) heartbeat is fresh, 1 if it is stale or missing."
    # A probe runs every few seconds: it reads one key and skips the system checks.
    requires_system_checks: list = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--node", help="the worker's node name (default: celery@<this host's name>)")
        parser.add_argument(
            "--max-age", type=float, help="seconds after which a heartbeat is stale (default: PROBE_MAX_AGE_SECONDS)"
        )

    def handle(self, *args: Any, kind: str, node: str | None, max_age: float | None, **options: Any) -> None:
        node = node or default_node(kind)
        limit = float(settings.PROBE_MAX_AGE_SECONDS) if max_age is None else max_age
        try:
            age = heartbeat_age(kind, node)
        except Exception as exc:
            raise CommandError(f"{kind} {node}: heartbeat unreadable ({exc})") from exc
        if age is None:
            raise CommandError(f"{kind} {node}: no heartbeat")
        if age > limit:
            raise CommandError(f"{kind} {node}: last heartbeat {age:.1f} s ago (stale after {limit:g} s)")
        self.stdout.write(f"{kind} {node}: alive, last heartbeat {age:.1f} s ago")
