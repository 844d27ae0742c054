from stages.management.commands._base import StageCommand
from stages.services import stage_ensure_master


class Command(StageCommand):
    help = "Make sure the master stage exists (adopt IVS_MASTER_STAGE_ARN, re-find by tag, or create). Idempotent."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        stage, outcome = stage_ensure_master()
        self.stdout.write(self.style.SUCCESS(f"master stage {outcome}: {stage.name} {stage.arn}"))
