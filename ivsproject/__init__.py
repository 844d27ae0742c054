from ivsproject.celery import app as celery_app

__all__ = ("celery_app",)
API_VERSION = "1.2.0"
