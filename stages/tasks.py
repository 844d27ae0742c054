import logging

from celery import shared_task
from django.conf import settings

from ivsproject.api.exceptions import ApiError
from ivsproject.locks import single_run
from stages import hostlive
from stages.models import Room
from stages.selectors import live_rooms

logger = logging.getLogger(__name__)


@shared_task(name="stages.host_live_poll")
def poll_host_live() -> bool | None:
    """Beat task: repair the rooms' host-live state from IVS (events are best effort), a few rooms
    per tick in rotation. Returns the default room's answer when it was polled (None otherwise). A
    change is announced by `stages.hostlive` itself, whichever source found it."""
    with single_run("publisher-live-poll", ttl_seconds=30) as acquired:
        if not acquired:
            return None
        rooms = sorted(live_rooms().values_list("room_id", flat=True))
        answers: dict[str, bool] = {}
        for room_id in hostlive.rooms_to_poll(rooms, settings.HOST_LIVE_POLL_ROOMS_PER_TICK):
            try:
                answers[room_id] = hostlive.refresh(room_id)
            except ApiError as exc:  # IVS unreachable or throttled: keep the last answer until its TTL
                logger.warning("host-live poll of room %s failed: %s %s", room_id, exc.code, exc.message)
        return answers.get(Room.DEFAULT)
