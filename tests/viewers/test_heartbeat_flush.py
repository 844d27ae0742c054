"""The cleanup task copies live viewers' last heartbeats into their open sessions, found by
(stage, userId) — Redis keeps no session ids."""

from datetime import UTC, datetime

import pytest

from stages import presence
from stages.services import stage_create
from tests.factories import track_viewers
from viewers.models import ViewerSession
from viewers.tasks import cleanup_viewers

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000.0


def _at(epoch):
    return datetime.fromtimestamp(epoch, tz=UTC)


def _session(stage, user, *, joined, left=None):
    return ViewerSession.objects.create(
        user_id=user, stage=stage, participant_id="p", joined_at=_at(joined), last_heartbeat=_at(joined), left_at=left
    )


def test_flush_updates_only_the_open_session_of_that_stage_and_viewer(master_stage, monkeypatch):
    other = stage_create(name="other")
    monkeypatch.setattr(presence, "now", lambda: T0 + 45)
    open_here = _session(master_stage, "a", joined=T0)
    closed_here = _session(master_stage, "a", joined=T0 - 900, left=_at(T0 - 800))
    open_elsewhere = _session(other, "a", joined=T0)  # same viewer, another stage, not in its presence
    presence.track(stage_id=master_stage.stage_id, user_id="a", at=T0 + 45, participant_id="p", joined_at=T0)
    track_viewers(master_stage, 3, prefix="nosession-")  # tracked without sessions: nothing to update

    flushed = sum(cleanup_viewers()["heartbeats_flushed"] for _ in range(10))

    assert flushed == 1
    open_here.refresh_from_db()
    assert open_here.last_heartbeat == _at(T0 + 40)  # the 10 s bucket's start, never ahead
    for untouched in (closed_here, open_elsewhere):
        before = untouched.last_heartbeat
        untouched.refresh_from_db()
        assert untouched.last_heartbeat == before


def test_flush_never_moves_a_stored_heartbeat_backwards(master_stage, monkeypatch):
    monkeypatch.setattr(presence, "now", lambda: T0 + 45)
    session = _session(master_stage, "a", joined=T0)
    ViewerSession.objects.filter(pk=session.pk).update(last_heartbeat=_at(T0 + 44))
    presence.track(stage_id=master_stage.stage_id, user_id="a", at=T0 + 45, participant_id="p", joined_at=T0)

    assert sum(cleanup_viewers()["heartbeats_flushed"] for _ in range(10)) == 0
    session.refresh_from_db()
    assert session.last_heartbeat == _at(T0 + 44)
