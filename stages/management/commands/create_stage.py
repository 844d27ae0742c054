from django.core.management.base import CommandError

from stages.management.commands._base import StageCommand
from stages.serializers import StageCreateSerializer
from stages.services import stage_create


class Command(StageCommand):
    help = "Create a stage in IVS and the registry (same rules and cap as POST /api/stage)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("name")
        parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        tags = {}
        for item in options["tag"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--tag {item!r}: expected KEY=VALUE")
            tags[name] = value
        body = StageCreateSerializer(data={"name": options["name"], "tags": tags})
        if not body.is_valid():
            raise CommandError(f"invalid input: {dict(body.errors)}")
        stage = stage_create(**body.validated_data)
        self.stdout.write(self.style.SUCCESS(f"created {stage.name} {stage.arn}"))
