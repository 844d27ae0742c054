from django.apps import AppConfig


class StagesConfig(AppConfig):
    name = "stages"

    def ready(self) -> None:
        from ivsproject.api.metrics import SCRAPE_TIME_COLLECTORS
        from stages import receivers
        from stages.metrics import StageCollector

        receivers.connect()
        SCRAPE_TIME_COLLECTORS.append(StageCollector())
