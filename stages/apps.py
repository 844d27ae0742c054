from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StagesConfig(AppConfig):
    name = "stages"
    verbose_name = _("直播間與 Stage")

    def ready(self) -> None:
        from ivsproject.api.health import register_stage_configured_check
        from ivsproject.api.metrics import SCRAPE_TIME_COLLECTORS
        from stages import receivers
        from stages.metrics import StageCollector
        from stages.selectors import master_stage_configured

        receivers.connect()
        SCRAPE_TIME_COLLECTORS.append(StageCollector())
        register_stage_configured_check(master_stage_configured)
