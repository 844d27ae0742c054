from django.apps import AppConfig


class ViewersConfig(AppConfig):
    name = "viewers"

    def ready(self) -> None:
        from viewers import receivers

        receivers.connect()
