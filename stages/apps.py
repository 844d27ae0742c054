from django.apps import AppConfig


class StagesConfig(AppConfig):
    name = "stages"

    def ready(self) -> None:
        from ivsproject.api.metrics import SCRAPE_TIME_COLLECTORS
        from stages import signals  # noqa: F401  (connects the registry invalidation)
        from stages.metrics import StageCollector

        SCRAPE_TIME_COLLECTORS.append(StageCollector())
