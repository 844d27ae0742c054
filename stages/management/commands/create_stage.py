from django.core.management.base import CommandError

from stages.management.commands._base import StageCommand, tag_options
from stages.selectors import room_param
from stages.serializers import StageCreateSerializer
from stages.services import stage_create


class Command(StageCommand):
    help = "Create a stage in IVS and the registry (same rules and cap as POST /api/stage)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("name")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--room", default="", metavar="ROOM_ID", help="the room of the stage (default: default)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        tags = tag_options(options["tag"])
        body = StageCreateSerializer(data={"name": options["name"], "tags": tags, "roomId": options["room"]})
        if not body.is_valid():
            raise CommandError(f"invalid input: {dict(body.errors)}")
        data = dict(body.validated_data)
        room_id = room_param(data.pop("roomId", None))
        stage = stage_create(**data, room_id=room_id)
        self.stdout.write(self.style.SUCCESS(f"created {stage.name} in room {stage.room_id}: {stage.arn}"))
