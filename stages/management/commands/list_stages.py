from ivsproject.api.envelope import iso
from stages.management.commands._base import StageCommand, json_option, write_json
from stages.models import Room, Stage
from stages.selectors import room_or_404, validate_room_id, viewer_counts


class Command(StageCommand):
    help = "List stages (from the registry) with live viewer counts."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--all", action="store_true", help="include deleted stages")
        parser.add_argument("--room", metavar="ROOM_ID", help="only the stages of this room")
        json_option(parser)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        stages = Stage.objects.all() if options["all"] else Stage.objects.exclude(status=Stage.Status.DELETED)
        if options["room"] is not None:
            if options["all"]:
                # With --all a deleted room is fine too: its stages are the history asked for.
                room_id = validate_room_id(options["room"])
                if not Room.objects.filter(room_id=room_id).exists():
                    room_or_404(room_id)  # the API's 404 for a room that never existed
            else:
                room_id = room_or_404(options["room"]).room_id
            stages = stages.filter(room_id=room_id)
        listed = list(stages)
        counts = viewer_counts(listed)
        if options["json"]:
            rows = [
                {
                    "stageArn": s.arn,
                    "stageName": s.name,
                    "roomId": s.room_id,
                    "role": s.role,
                    "status": s.status,
                    "autoScaled": s.auto_scaled,
                    "viewerCount": counts[s.arn],
                    "createdAt": iso(s.created_at),
                }
                for s in listed
            ]
            write_json(self.stdout, {"stages": rows, "totalStages": len(rows)})
            return
        self.write_table(
            ("NAME", "ROOM", "ROLE", "STATUS", "VIEWERS", "CREATED", "ARN"),
            [
                (
                    s.name,
                    s.room_id,
                    s.role,
                    s.status,
                    str(counts[s.arn]),
                    s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    s.arn,
                )
                for s in listed
            ],
        )
        self.stdout.write(f"{len(listed)} stage(s)")
