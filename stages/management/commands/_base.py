"""Shared parts of the stage and room commands: ApiError → CommandError (clear message, exit 1),
`--tag KEY=VALUE` options, plain-text tables and `--json` documents."""

import json
import unicodedata
from collections.abc import Sequence
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

    def write_table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        table = [list(header), *(list(row) for row in rows)]
        widths = [max(_width(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            self.stdout.write("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip())


def write_json(stdout: Any, document: Any) -> None:
    """`--json`: the whole of stdout is this one document (scripts and cron `json.loads` it), so
    nothing else may be written there; logs go to stderr."""
    stdout.write(json.dumps(document, ensure_ascii=False, default=str))


def json_option(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else")


def _width(text: str) -> int:
    # Room and stage names are often Chinese: a wide character takes two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def tag_options(items: list[str]) -> dict[str, str]:
    """`--tag KEY=VALUE` options as a dict (the API's tag rules are checked by the caller's serializer)."""
    tags = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--tag {item!r}: expected KEY=VALUE")
        tags[name] = value
    return tags
