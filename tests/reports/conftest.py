import itertools

import pytest

from stages import rooms
from stages.selectors import master_stage as master_of
from tests.factories import ivs_stage_event


@pytest.fixture
def host(ivs_events, master_stage):
    """Switch a room's host live or off through the public events endpoint (EventBridge), each
    event a minute after the previous one so the newest always wins."""
    minutes = itertools.count()

    def switch(live: bool, room_id: str = "default") -> None:
        stage = master_of(room_id)
        n = next(minutes)
        name = "Participant Published" if live else "Participant Unpublished"
        at = f"2026-11-27T{n // 60:02d}:{n % 60:02d}:00Z"
        response = ivs_events(ivs_stage_event(stage.arn, name, event_id=f"evt-{room_id}-{n}", time=at))
        assert response.status_code == 200, response.content
        assert response.json()["data"]["outcome"] == "applied"

    return switch


@pytest.fixture
def room(master_stage):
    def make(room_id: str) -> str:
        rooms.room_create(room_id=room_id)
        return room_id

    return make
