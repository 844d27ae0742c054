"""Test-only URLconf: tiny views that exercise the API plumbing without any domain endpoint.

Used with `@pytest.mark.urls("tests.api.urls")`; the real project routes are included too, so
/health, /metrics and the docs behave as in production.
"""

import redis
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.fields import StrictCharField


class EchoSerializer(serializers.Serializer):
    userId = StrictCharField(min_length=1, max_length=128)


class PairSerializer(serializers.Serializer):
    userId = StrictCharField(max_length=128)
    stageArn = StrictCharField(max_length=256)
    serverId = StrictCharField(max_length=128)


class EchoApi(APIView):
    def post(self, request: Request) -> Response:
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(serializer.validated_data, message="操作成功")


class PairApi(APIView):
    def post(self, request: Request) -> Response:
        serializer = PairSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(serializer.validated_data)


class PingApi(APIView):
    def get(self, request: Request) -> Response:
        return ok({"pong": True})


class BoomApi(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("database password is hunter2")


class RedisDownApi(APIView):
    def get(self, request: Request) -> Response:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def plain_boom(request: HttpRequest) -> HttpResponse:
    """A plain Django view (no DRF) under /api/: only the envelope middleware can catch this."""
    raise RuntimeError("plain view secret")


urlpatterns = [
    path("api/test/echo", EchoApi.as_view()),
    path("api/test/pair", PairApi.as_view()),
    path("api/test/ping", PingApi.as_view()),
    path("api/test/boom", BoomApi.as_view()),
    path("api/test/redis-down", RedisDownApi.as_view()),
    path("api/test/plain-boom", plain_boom),
    path("", include("ivsproject.urls")),
]

handler404 = "ivsproject.api.views.not_found"
handler500 = "ivsproject.api.views.server_error"
