"""The seat scripts' own edges, called as services: the heartbeat script refreshes up to and
including the limit-th request of a window, and the expiry script agrees with `presence.expired`
that a viewer whose last heartbeat is exactly at the cutoff is not yet expired."""

import pytest

from ivsproject.redis import slot_key
from stages import presence

STAGE = "stage-boundary"
COUNTER = slot_key("seats", "ratelimit", "test-window", "10.0.0.9")


@pytest.fixture
def viewer():
    presence.track(stage_id=STAGE, user_id="u", at=1000.0, participant_id="p", joined_at=1000.0)
    return "u"


def score(user):
    return dict(presence.scores(stage_id=STAGE, offset=0, limit=10))[user]


def test_heartbeat_script_refreshes_up_to_the_limit_inclusive(viewer):
    limit = 3
    for n in range(1, limit + 1):
        at = 1000.0 + n
        assert presence.heartbeat_counted(
            stage_id=STAGE, user_id=viewer, at=at, counter_key=COUNTER, limit=limit, counter_ttl=70
        ) == (n, True)
        assert score(viewer) == at
    over = presence.heartbeat_counted(
        stage_id=STAGE, user_id=viewer, at=2000.0, counter_key=COUNTER, limit=limit, counter_ttl=70
    )
    assert over == (limit + 1, False)
    assert score(viewer) == 1000.0 + limit  # over the limit nothing is refreshed


def test_heartbeat_script_never_tracks_an_unknown_viewer():
    assert presence.heartbeat_counted(
        stage_id=STAGE, user_id="nobody", at=1.0, counter_key=COUNTER, limit=5, counter_ttl=70
    ) == (1, False)
    assert presence.scores(stage_id=STAGE, offset=0, limit=10) == []


def test_a_heartbeat_exactly_at_the_cutoff_is_neither_read_nor_removed_as_expired(viewer):
    assert presence.expired(stage_id=STAGE, cutoff=1000.0) == []
    assert presence.remove_expired(stage_id=STAGE, cutoff=1000.0, user_ids=[viewer]) == []
    assert presence.tracked([(STAGE, viewer)]) == [True]


def test_a_heartbeat_just_before_the_cutoff_is_read_and_removed(viewer):
    assert presence.expired(stage_id=STAGE, cutoff=1000.5) == [(viewer, 1000.0)]
    assert presence.remove_expired(stage_id=STAGE, cutoff=1000.5, user_ids=[viewer]) == [viewer]
    assert presence.tracked([(STAGE, viewer)]) == [False]
    assert presence.seat_of(viewer) is None
