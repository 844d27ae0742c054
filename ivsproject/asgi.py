"""ASGI entry point: HTTP (Django) and the `/ws` WebSocket (Channels) on one server (daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from ivsproject.api.checks import run_startup_checks  # noqa: E402
from stats.routing import websocket_urlpatterns  # noqa: E402

run_startup_checks()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
