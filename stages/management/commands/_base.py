"""Shared error handling for stage commands: ApiError → CommandError (clear message, exit 1)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ivsproject.api.exceptions import ApiError


class StageCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except ApiError as exc:
            detail = f" {exc.details}" if exc.details else ""
            raise CommandError(f"{exc.code}: {exc.message}{detail}") from exc
