from django.apps import AppConfig


class ViewersConfig(AppConfig):
    name = "viewers"
