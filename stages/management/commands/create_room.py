from django.core.management.base import CommandError

from stages.management.commands._base import StageCommand, tag_options
from stages.rooms import room_create
from stages.selectors import master_stage
from stages.serializers import RoomCreateSerializer


class Command(StageCommand):
    help = "Create a room (直播間) and its master stage in IVS (same rules and caps as POST /api/rooms)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("room_id", metavar="roomId")
        parser.add_argument("--name", help="the room's name (default: the roomId)")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        data = {"roomId": options["room_id"], "tags": tag_options(options["tag"])}
        if options["name"] is not None:
            data["name"] = options["name"]
        body = RoomCreateSerializer(data=data)
        if not body.is_valid():
            raise CommandError(f"invalid input: {dict(body.errors)}")
        room = room_create(
            room_id=body.validated_data["roomId"],
            name=body.validated_data.get("name"),
            tags=body.validated_data.get("tags"),
        )
        master = master_stage(room.room_id)
        arn = master.arn if master is not None else "-"
        self.stdout.write(self.style.SUCCESS(f"created room {room.room_id} ({room.name}), master stage {arn}"))
