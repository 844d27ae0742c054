from django.apps import AppConfig


class StagesConfig(AppConfig):
    name = "stages"

    def ready(self) -> None:
        from ivsproject.api.health import register_stage_configured_check
        from ivsproject.api.metrics import SCRAPE_TIME_COLLECTORS
        from stages import receivers
        from stages.metrics import StageCollector
        from stages.selectors import master_stage_configured

        receivers.connect()
        SCRAPE_TIME_COLLECTORS.append(StageCollector())
        register_stage_configured_check(master_stage_configured)
