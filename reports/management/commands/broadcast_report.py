"""`manage.py broadcast_report (<broadcastId> | --room R --last) [--format table|json|csv]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from ivsproject.csvexport import csv_lines
from reports import selectors
from stages.management.commands._base import StageCommand
from stages.selectors import validate_room_id


class Command(StageCommand):
    help = (
        "A broadcast's report: its summary and viewers over time (table), the API's document (json), "
        "or the viewers-over-time series (csv: t,viewers)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("broadcast_id", nargs="?", help="the broadcastId (as GET /api/reports/broadcasts gives)")
        parser.add_argument("--room", help="with --last: the room whose latest broadcast to report")
        parser.add_argument("--last", action="store_true", help="the room's latest broadcast (live or ended)")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
        parser.add_argument("--json", action="store_true", help="same as --format json (one JSON document)")

    def handle(self, *args: Any, **options: Any) -> None:
        broadcast_id = options["broadcast_id"]
        if bool(broadcast_id) == bool(options["last"]):
            raise CommandError("give a broadcastId, or --room R --last")
        if options["last"]:
            room_id = validate_room_id(options["room"] or "default")
            latest = selectors.latest_in_room(room_id)
            if latest is None:
                raise CommandError(f"room {room_id!r} has no broadcast")
            broadcast_id = latest.broadcast_id
        report = selectors.broadcast_detail(broadcast_id)
        output = "json" if options["json"] else options["format"]
        if output == "json":
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        elif output == "csv":
            for line in csv_lines(("t", "viewers"), ((p["t"], p["viewers"]) for p in report["series"])):
                self.stdout.write(line, ending="")
        else:
            self._table(report)

    def _table(self, report: dict[str, Any]) -> None:
        summary = report["broadcast"]
        self.write_table(("FIELD", "VALUE"), [(k, "" if v is None else str(v)) for k, v in summary.items()])
        if summary["endedAt"] is None:
            self.stdout.write("(live: figures so far)")
        self.stdout.write("")
        self.write_table(("TIME", "VIEWERS"), [(p["t"], str(p["viewers"])) for p in report["series"]])
        self.stdout.write(f"{len(report['series'])} sample(s)")
