"""Stats endpoints (spec §5)."""

import hashlib
import logging

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api import throttling
from ivsproject.api.authentication import match_secret
from ivsproject.api.envelope import ok
from ivsproject.api.exceptions import Forbidden
from ivsproject.api.schema import envelope_responses
from ivsproject.redis import LuaScript, get_redis, key
from stages import events
from stages.selectors import room_param
from stages.serializers import RoomQuerySerializer
from stats import selectors
from stats.serializers import (
    IvsEventResultSerializer,
    IvsEventSerializer,
    PublisherStatsSerializer,
    RoomsStatsSerializer,
    StatsSerializer,
    ViewerStatsSerializer,
)


def _room(request: Request) -> tuple[str, dict[str, str]]:
    """The room a stats request names (absent: `default`, exactly as v1.1.0, without `roomId` in
    the answer), and what to add to the answer."""
    query = RoomQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    given = query.validated_data.get("roomId")
    room_id = room_param(given)
    return room_id, ({"roomId": room_id} if given else {})


class StatsApi(APIView):
    @extend_schema(
        operation_id="stats",
        summary="Viewers, stages, host status (of one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(StatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({**selectors.stats_overview(room_id), **extra})


class ViewerStatsApi(APIView):
    @extend_schema(
        operation_id="stats_viewers",
        summary="Total viewers (of one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(ViewerStatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({"totalViewers": selectors.total_viewers(room_id), "calculatedFrom": "real-time sum", **extra})


class PublisherStatsApi(APIView):
    @extend_schema(
        operation_id="stats_publisher",
        summary="Is the host live (in one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(PublisherStatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({"isPublisherLive": selectors.is_publisher_live(room_id), **extra})


class RoomsStatsApi(APIView):
    @extend_schema(
        operation_id="stats_rooms",
        summary="Viewers, stages and host status of every room",
        responses=envelope_responses(RoomsStatsSerializer),
    )
    def get(self, request: Request) -> Response:
        return ok(selectors.rooms_stats())


logger = logging.getLogger(__name__)


def _events_failures_ticket(request: Request) -> throttling.RateTicket | None:
    """The client address's counter of refused secrets in its current 60 s window (None: off)."""
    limit = settings.IVS_EVENTS_MAX_FAILURES
    if limit <= 0:
        return None
    client = throttling.client_ip(request)
    window = throttling.window_end(client, throttling.PERIOD_SECONDS)
    # The client part comes from a header: hashed, so the key stays short and plain whatever it holds.
    digest = hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()
    return throttling.RateTicket(key=key("ivs-events", "failures", window, digest), window=window, limit=limit)


# A right secret gives its number back, unless the window's counter has already expired (a DECR
# then would leave a key at -1 with no expiry).
_GIVE_BACK = LuaScript(
    """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end
return 0
"""
)


class HasEventsSecret(BasePermission):
    """`x-ivs-events-secret` = IVS_EVENTS_SECRET (constant time); the endpoint is off (403) unset.

    The endpoint has no rate limit (EventBridge delivers in bursts, and refusing one loses news),
    so guessing the secret is limited on its own: after IVS_EVENTS_MAX_FAILURES refused secrets
    from one client address in a window, every request from that address is 429 until the window
    ends — the secret is not even compared, or a 429 for wrong and a 200 for right would let the
    guessing go on. If Redis is down the secret is checked as before (fail open, logged): a wrong
    one is still refused.

    Count first, then compare (as the admin login does): each attempt takes its number with one
    INCR before its secret is compared, and only a number within the limit is compared; a right
    secret gives its number back at once. Reading the count and adding to it after a wrong secret
    would let a burst of concurrent guesses all read "under the limit" and all be compared. So
    only failures stay counted, and an address that never guessed is refused only if more than
    the limit of its requests sit, at the same moment, between taking their number and giving it
    back (two Redis round trips); EventBridge retries a 429 with backoff, so even that delays the
    news and never loses it.
    """

    def has_permission(self, request: Request, view: object) -> bool:
        ticket = _events_failures_ticket(request)
        attempt = self._take_number(ticket)
        if ticket is not None and attempt is not None:
            throttling.enforce(ticket, attempt)
        given = request.META.get("HTTP_X_IVS_EVENTS_SECRET", "")
        if not settings.IVS_EVENTS_SECRET or not given or match_secret(given, [settings.IVS_EVENTS_SECRET]) is None:
            raise Forbidden()
        if ticket is not None and attempt is not None:
            self._give_back(ticket)
        return True

    @staticmethod
    def _take_number(ticket: throttling.RateTicket | None) -> int | None:
        if ticket is None:
            return None
        try:
            client = get_redis()
            count = int(client.incr(ticket.key))
            if count == 1:
                client.expire(ticket.key, ticket.ttl)
            return count
        except Exception:  # Redis down: fail open (see the docstring)
            logger.warning("IVS events failure limit unavailable; checking the secret alone", exc_info=True)
            return None

    @staticmethod
    def _give_back(ticket: throttling.RateTicket) -> None:
        try:
            _GIVE_BACK(keys=[ticket.key])
        except Exception:  # Redis gone since the INCR: the number expires with its window
            logger.warning("IVS events failure limit: a right secret's number not given back", exc_info=True)


class IvsEventsApi(APIView):
    """EventBridge API destination for "IVS Stage Update" events (shared-secret header)."""

    authentication_classes: list = []
    permission_classes = [HasEventsSecret]
    throttle_classes: list = []  # AWS delivers in bursts; the secret is the gate

    @extend_schema(
        operation_id="ivs_events",
        summary="EventBridge IVS Stage Update events (needs x-ivs-events-secret)",
        auth=[],
        request=IvsEventSerializer,
        parameters=[OpenApiParameter("x-ivs-events-secret", str, OpenApiParameter.HEADER, required=True)],
        responses=envelope_responses(IvsEventResultSerializer, errors=(403, 429), auth=False),
    )
    def post(self, request: Request) -> Response:
        event = events.parse_event(request.data)
        return ok({"eventId": event.id, "outcome": events.ivs_event_handle(event=event)})
