from django.apps import AppConfig


class AutoscalingConfig(AppConfig):
    name = "autoscaling"

    def ready(self) -> None:
        from autoscaling import receivers

        receivers.connect()
