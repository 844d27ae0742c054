from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ViewersConfig(AppConfig):
    name = "viewers"
    verbose_name = _("觀眾")

    def ready(self) -> None:
        from viewers import receivers

        receivers.connect()
