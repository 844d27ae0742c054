from dataclasses import asdict

from django.core.management.base import BaseCommand

from viewers.cleanup import viewers_cleanup


class Command(BaseCommand):
    help = "Remove viewers silent for longer than HEARTBEAT_TIMEOUT_SECONDS and close their sessions."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        report = asdict(viewers_cleanup())
        for name, value in report.items():
            self.stdout.write(f"{name}: {value}")
