from stages.management.commands._base import StageCommand
from stages.services import stage_delete


class Command(StageCommand):
    help = "Delete a stage (never the master, never one with viewers), like DELETE /api/stage/<arn>."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("arn")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        stage = stage_delete(arn=options["arn"])
        self.stdout.write(self.style.SUCCESS(f"deleted {stage.name} {stage.arn}"))
