"""Baseline: a bare DRF view (no authentication, permission, throttle, parsing or Redis) that
answers with an envelope of the same size as the endpoint it is compared with."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok

STAGE_ARN = "arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGhIjKl"
# The JWT of a self-signed viewer token is ~730 characters; the rest mirrors ViewerTokenApi's data.
_TOKEN_PAD = "x" * 730

SHAPES: dict[str, tuple[dict, str | None]] = {
    "heartbeat": ({"userId": "hb-000000", "stageArn": STAGE_ARN, "heartbeatUpdated": True}, "心跳更新成功"),
    "token": (
        {
            "token": _TOKEN_PAD,
            "participantId": "AbCdEfGhIjKl",
            "stageArn": STAGE_ARN,
            "capabilities": ["SUBSCRIBE"],
            "expiresAt": "2025-10-21T11:30:00.000Z",
            "userId": "tok-000000",
            "expiresIn": 3600,
            "currentViewers": 12,
        },
        None,
    ),
    # /api/stats with 20 stages (also the size class of /api/stage/list).
    "stats": (
        {
            "totalViewers": 100000,
            "activeStages": 20,
            "isPublisherLive": False,
            "stages": [
                {
                    "stageArn": STAGE_ARN,
                    "stageName": f"bench-stage-{n}",
                    "viewerCount": 5000,
                    "autoScaled": False,
                    "createdAt": "2025-10-21T10:30:00.000Z",
                }
                for n in range(20)
            ],
        },
        None,
    ),
    # /api/stats?roomId= of a room with its master alone (rows 8d).
    "stats-room": (
        {
            "totalViewers": 1000,
            "activeStages": 1,
            "isPublisherLive": False,
            "stages": [
                {
                    "stageArn": STAGE_ARN,
                    "stageName": "bench-room-50-master",
                    "viewerCount": 1000,
                    "autoScaled": False,
                    "createdAt": "2025-10-21T10:30:00.000Z",
                    "roomId": "bench-room-50",
                }
            ],
            "roomId": "bench-room-50",
        },
        None,
    ),
    # /api/stats/rooms over 100 rooms (row 8e).
    "rooms": (
        {
            "totalViewers": 100000,
            "liveRooms": 0,
            "rooms": [
                {
                    "roomId": f"bench-room-{n:02d}",
                    "name": f"bench-room-{n:02d}",
                    "totalViewers": 1000,
                    "activeStages": 1,
                    "isPublisherLive": False,
                }
                for n in range(100)
            ],
        },
        None,
    ),
}


class BaselineApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def get(self, request: Request, shape: str) -> Response:
        data, message = SHAPES.get(shape, SHAPES["heartbeat"])
        return ok(data, message=message)

    post = get
