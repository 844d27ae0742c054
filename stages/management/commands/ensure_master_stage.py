from stages.management.commands._base import StageCommand
from stages.models import Room
from stages.selectors import room_or_404
from stages.services import stage_ensure_master


class Command(StageCommand):
    help = (
        "Make sure a room's master stage exists (adopt IVS_MASTER_STAGE_ARN for the room default, "
        "re-find by tag, or create). Idempotent."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--room", default=Room.DEFAULT, metavar="ROOM_ID", help="the room (default: default)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        # The room must exist (and be live): a master stage recorded for an unknown room would have
        # no row to belong to.
        room = room_or_404(options["room"])
        stage, outcome = stage_ensure_master(room.room_id)
        self.stdout.write(self.style.SUCCESS(f"master stage {outcome}: {stage.name} {stage.arn} (room {room.room_id})"))
