from django.urls import path, re_path

from stats.consumers import NotFoundConsumer, StatsConsumer

websocket_urlpatterns = [
    path("ws", StatsConsumer.as_asgi()),
    # Any other path: refuse the handshake instead of a routing traceback in the server log.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
