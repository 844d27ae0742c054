from dataclasses import asdict

from autoscaling.autoscaler import autoscale_tick
from stages.management.commands._base import StageCommand, json_option, write_json


class Command(StageCommand):
    help = "Run one autoscaler tick and print each decision with its reason."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--dry-run", action="store_true", help="decide and print, change nothing")
        json_option(parser)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        decisions = autoscale_tick(dry_run=options["dry_run"])
        if options["json"]:
            write_json(self.stdout, {"dryRun": options["dry_run"], "decisions": [asdict(d) for d in decisions]})
            return
        for decision in decisions:
            self.stdout.write(str(decision))
        if not decisions:
            self.stdout.write("no changes: load is within thresholds")
