from stages.management.commands._base import StageCommand
from stages.models import Stage
from stages.selectors import viewer_counts


class Command(StageCommand):
    help = "List stages (from the registry) with live viewer counts."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--all", action="store_true", help="include deleted stages")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        stages = list(Stage.objects.all() if options["all"] else Stage.objects.exclude(status=Stage.Status.DELETED))
        counts = viewer_counts(stages)
        rows = [("NAME", "ROLE", "STATUS", "VIEWERS", "CREATED", "ARN")]
        rows += [
            (s.name, s.role, s.status, str(counts[s.arn]), s.created_at.strftime("%Y-%m-%d %H:%M:%S"), s.arn)
            for s in stages
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        self.stdout.write(f"{len(stages)} stage(s)")
