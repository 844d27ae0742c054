"""Token endpoints (spec §2)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api import throttling
from ivsproject.api.authentication import HasApiKey, HasInternalSecret
from ivsproject.api.envelope import iso, ok
from ivsproject.api.fastpath import FastAnswer, FastRequest, HandOff, raise_handed_off
from ivsproject.api.plainbody import PlainBody
from ivsproject.api.schema import envelope_responses
from stages import selectors as stage_selectors
from stages.models import Room
from tokens import services
from tokens.serializers import (
    MediaServerTokenRequestSerializer,
    MediaServerTokenSerializer,
    PublisherTokenRequestSerializer,
    PublisherTokenSerializer,
    ViewerTokenRequestSerializer,
    ViewerTokenSerializer,
)


def _token_fields(minted: services.MintedToken) -> dict:
    return {
        "token": minted.token,
        "participantId": minted.participant_id,
        "stageArn": minted.stage.arn,
        "capabilities": minted.capabilities,
        "expiresAt": iso(minted.expires_at),
    }


def obs_instructions() -> dict:
    # The spec's values, byte for byte (README notes AWS's own OBS advice: veryfast, no B-frames).
    return {
        "obs": {
            "service": "WHIP",
            "server": settings.WHIP_ENDPOINT,
            "bearerToken": "<使用上方的 token>",
            "settings": {
                "resolution": "1280x720",
                "bitrate": "2500 kbps",
                "keyframeInterval": "1s",
                "cpuPreset": "ultrafast",
                "tune": "zerolatency",
            },
        },
        "web": {"sdk": "amazon-ivs-web-broadcast", "method": "Stage.join(token)"},
    }


class PublisherTokenApi(APIView):
    @extend_schema(
        operation_id="token_publisher",
        summary="PUBLISH token for the master stage (the host)",
        request=PublisherTokenRequestSerializer,
        responses=envelope_responses(PublisherTokenSerializer, errors=(403, 404, 500)),
    )
    def post(self, request: Request) -> Response:
        body = PublisherTokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        room_id = stage_selectors.room_param(body.validated_data.get("roomId"))
        minted = services.token_publisher_create(user_id=body.validated_data["userId"], room_id=room_id)
        return ok(
            {
                **_token_fields(minted),
                "userId": minted.user_id,
                "whipEndpoint": settings.WHIP_ENDPOINT,
                "expiresIn": minted.expires_in,
                "instructions": obs_instructions(),
            }
        )


class ViewerTokenApi(APIView):
    # The request's rate-limit count rides in the seat script's round trip (as the heartbeat's
    # does): the service settles the ticket exactly once, before any answer other than 429.
    throttle_classes = [throttling.DeferredClientRateThrottle]

    @extend_schema(
        operation_id="token_viewer",
        summary="SUBSCRIBE token; auto-assigns the least-loaded stage unless stageArn is given",
        request=ViewerTokenRequestSerializer,
        responses=envelope_responses(ViewerTokenSerializer, errors=(404, 500, 503)),
    )
    def post(self, request: Request) -> Response:
        raise_handed_off(request)  # the fast path took this token request and it failed: that answer
        with throttling.RateBill(throttling.take_deferred(request)) as bill:
            valid = _VIEWER_TOKEN_BODY.validated(request.data)
            result = services.token_viewer_create(
                user_id=valid["userId"],
                stage_arn=valid.get("stageArn") or None,
                room_id=valid.get("roomId") or Room.DEFAULT,
                rate_bill=bill,
            )
        return ok(_viewer_token_data(result))


# Why a plain validator: see ivsproject/api/plainbody.py.
_VIEWER_TOKEN_BODY = PlainBody(ViewerTokenRequestSerializer)


def _viewer_token_data(result: services.ViewerToken) -> dict:
    return {
        **_token_fields(result.minted),
        "userId": result.minted.user_id,
        "expiresIn": result.minted.expires_in,
        "currentViewers": result.current_viewers,
    }


def viewer_token_fast(request: FastRequest) -> FastAnswer | None:
    """The viewer token on the WSGI fast path (ivsproject.api.fastpath): the same service call as
    `ViewerTokenApi.post` for a body that certainly validates. Once the service has run, its
    outcome is final: an error is handed to the view to raise (a seat is never taken twice)."""
    valid = _VIEWER_TOKEN_BODY.validate(request.data)
    if valid is None:
        return None
    ticket = throttling.ticket_of(request.environ)
    try:
        result = services.token_viewer_create(
            user_id=valid["userId"],
            stage_arn=valid.get("stageArn") or None,
            room_id=valid.get("roomId") or Room.DEFAULT,
            rate_bill=throttling.RateBill(ticket),
        )
    except Exception as exc:
        raise HandOff(exc) from exc
    return FastAnswer(_viewer_token_data(result))


class MediaServerTokenApi(APIView):
    permission_classes = [HasApiKey, HasInternalSecret]

    @extend_schema(
        operation_id="token_mediaserver",
        summary="PUBLISH+SUBSCRIBE token for a media server (internal; needs x-internal-secret)",
        request=MediaServerTokenRequestSerializer,
        parameters=[OpenApiParameter("x-internal-secret", str, OpenApiParameter.HEADER, required=True)],
        responses=envelope_responses(MediaServerTokenSerializer, errors=(403, 404, 500)),
    )
    def post(self, request: Request) -> Response:
        body = MediaServerTokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        minted = services.token_mediaserver_create(
            server_id=body.validated_data["serverId"], stage_arn=body.validated_data["stageArn"]
        )
        return ok(_token_fields(minted))
