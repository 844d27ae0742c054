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
from ivsproject.redis import get_redis, key
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


class HasEventsSecret(BasePermission):
    """`x-ivs-events-secret` = IVS_EVENTS_SECRET (constant time); the endpoint is off (403) unset.

    The endpoint has no rate limit (EventBridge delivers in bursts, and refusing one loses news),
    so guessing the secret is limited on its own, per client address and 60 s window: at most
    IVS_EVENTS_MAX_FAILURES wrong secrets are answered 403; after that every request from the
    address is 429 until the window ends, the right secret included — a 429 for wrong and a 200
    for right would let the guessing go on.

    Compare first, then answer by the count, each decision one atomic Redis step: a wrong secret
    takes its number with one increment and is answered 403 only if the number is within the limit,
    else 429; a right secret reads the count and is answered 200 only while it is under the limit.
    So however many guesses arrive at once, no more than the limit of them are told "wrong" and
    none is told "right" once the limit is reached. (Reading the count before comparing and adding
    to it after would let a concurrent burst all read "under the limit" and all be answered.)
    Comparing every guess costs nothing — it is a constant-time string comparison; what has to be
    limited is what the answers tell. Only failures are counted, so right secrets from an address
    that did not guess are never refused, however many arrive at once. If Redis is down the secret
    is checked alone (fail open, logged): a wrong one is still refused.
    """

    def has_permission(self, request: Request, view: object) -> bool:
        if not settings.IVS_EVENTS_SECRET:
            raise Forbidden()  # the endpoint is off: nothing to guess, nothing counted
        given = request.META.get("HTTP_X_IVS_EVENTS_SECRET", "")
        right = bool(given) and match_secret(given, [settings.IVS_EVENTS_SECRET]) is not None
        ticket = _events_failures_ticket(request)
        if ticket is not None:
            failures = self._failures(ticket, count_one=not right)
            if failures is not None:
                # A wrong secret's own number, or the number a right one would need to stay within.
                throttling.enforce(ticket, failures if not right else failures + 1)
        if not right:
            raise Forbidden()
        return True

    @staticmethod
    def _failures(ticket: throttling.RateTicket, *, count_one: bool) -> int | None:
        """The window's failures, this one counted first when `count_one`; None if Redis is down."""
        try:
            if count_one:
                return throttling.count(ticket)  # the API rate limit's counter, on this key
            return int(get_redis().get(ticket.key) or 0)
        except Exception:  # Redis down: fail open (see the docstring)
            logger.warning("IVS events failure limit unavailable; checking the secret alone", exc_info=True)
            return None


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
