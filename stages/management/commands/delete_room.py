from stages.management.commands._base import StageCommand
from stages.rooms import room_delete


class Command(StageCommand):
    help = (
        "Delete a room and all its stages in IVS, closing its sessions (never the room default, never "
        "one with viewers), like DELETE /api/rooms/<roomId>."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("room_id", metavar="roomId")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        room_delete(room_id=options["room_id"])
        self.stdout.write(self.style.SUCCESS(f"deleted room {options['room_id']}"))
