from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "ivsproject.api"
    label = "ivsapi"
    verbose_name = "API plumbing"

    def ready(self) -> None:
        # Registers the startup checks (healthchecks `hc/api/apps.py` pattern).
        from ivsproject.api import checks, schema  # noqa: F401
