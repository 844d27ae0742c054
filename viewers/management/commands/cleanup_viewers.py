from dataclasses import asdict

from django.core.management.base import BaseCommand

from stages.management.commands._base import json_option, write_json
from viewers.cleanup import viewers_cleanup


class Command(BaseCommand):
    help = "Remove viewers silent for longer than HEARTBEAT_TIMEOUT_SECONDS and close their sessions."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        json_option(parser)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        report = asdict(viewers_cleanup())
        if options["json"]:
            # camelCase, as every other document this service writes
            write_json(self.stdout, {_camel(name): value for name, value in report.items()})
            return
        for name, value in report.items():
            self.stdout.write(f"{name}: {value}")


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
