from stages.management.commands._base import StageCommand, json_option, write_json
from stages.services import stages_sync


class Command(StageCommand):
    help = "Reconcile the stage registry with IVS: adopt our tagged stages, mark vanished ones deleted."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
        json_option(parser)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        report = stages_sync(dry_run=options["dry_run"])
        if options["json"]:
            write_json(
                self.stdout,
                {
                    "dryRun": options["dry_run"],
                    "adopted": report.adopted,
                    "updated": report.updated,
                    "deleted": report.deleted,
                    "orphaned": report.orphaned,
                    "unchanged": report.unchanged,
                    "errors": report.errors,
                },
            )
            return
        prefix = "would " if options["dry_run"] else ""
        for arn in report.adopted:
            self.stdout.write(f"+ {prefix}adopt  {arn}")
        for arn in report.updated:
            self.stdout.write(f"~ {prefix}update {arn}")
        for arn in report.deleted:
            self.stdout.write(f"- {prefix}mark deleted {arn}")
        for error in report.errors:
            self.stderr.write(f"! {error}")
        self.stdout.write(
            f"adopted={len(report.adopted)} updated={len(report.updated)} "
            f"deleted={len(report.deleted)} unchanged={report.unchanged}"
        )
