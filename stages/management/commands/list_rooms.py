from datetime import datetime

from stages import registry
from stages.management.commands._base import StageCommand, write_json
from stages.overview import rooms_all


class Command(StageCommand):
    help = "List the live rooms (直播間), oldest first, with host-live flag, viewers and live stages."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--json", action="store_true", help="one JSON document: {rooms: [room as GET /api/rooms], totalRooms}"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        # `rooms_all` takes its list of rooms from this process's registry copy: loaded fresh, so
        # the list is the database's as it is now, not as a copy from before a change had it.
        registry.load()
        rooms = rooms_all()
        if options["json"]:
            write_json(self.stdout, {"rooms": rooms, "totalRooms": len(rooms)})
            return
        self.write_table(
            ("ROOM_ID", "NAME", "LIVE", "VIEWERS", "STAGES", "CREATED"),
            [
                (
                    r["roomId"],
                    r["name"],
                    "yes" if r["isPublisherLive"] else "no",
                    str(r["totalViewers"]),
                    str(r["activeStages"]),
                    datetime.fromisoformat(r["createdAt"]).strftime("%Y-%m-%d %H:%M:%S"),
                )
                for r in rooms
            ],
        )
        self.stdout.write(f"{len(rooms)} room(s)")
