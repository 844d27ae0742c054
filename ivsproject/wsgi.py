import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
application = get_wsgi_application()

from ivsproject.api.checks import run_startup_checks  # noqa: E402

run_startup_checks()
