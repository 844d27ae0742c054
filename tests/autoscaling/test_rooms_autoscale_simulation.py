"""Acceptance: several rooms whose crowds overlap under an account stage cap shorter than their
peaks need together (bench/autoscale_sim.py, `simulate_rooms`), against the real services."""

import pytest

from bench.autoscale_sim import rooms_plan, simulate_rooms

pytestmark = pytest.mark.django_db


def test_overlapping_crowds_share_the_account_cap_and_scale_back_to_the_masters(settings):
    settings.STAGE_MAX_PARTICIPANTS = 25
    settings.SCALE_UP_THRESHOLD = 22
    settings.SCALE_DOWN_THRESHOLD = 2
    settings.STAGE_WARMUP_SECONDS = 300
    settings.MAX_STAGES = 20
    settings.ACCOUNT_MAX_STAGES = 16  # the three crowds' peaks want 23 stages together
    plan = rooms_plan(scale=0.5)

    result = simulate_rooms(plan)

    assert result.over_capacity == 0 and result.over_account == 0
    # After every tick, a room's waiting viewers fit in its free seats unless a cap left no stage.
    assert result.waiting_with_room == 0
    assert max(step.account_stages for step in result.steps) == 16  # the cap did bind
    assert result.stage_full > 0
    for step in result.steps:
        for room_id, room in step.rooms.items():
            assert room.viewers + room.waiting == plan[room_id][step.t // 30]
            assert room.fullest_stage <= 25
        if any(room.waiting for room in step.rooms.values()):
            assert step.account_stages == 16, step  # viewers wait only while the account is full
    # The flash crowd (r3) waited while the account was full, and got the first stages freed.
    waited = [step for step in result.steps if step.rooms["r3"].waiting]
    assert waited and any(step.rooms["r3"].active_stages > 1 for step in result.steps)
    final = result.steps[-1]
    assert final.account_stages == 4
    assert all((r.viewers, r.waiting, r.active_stages, r.draining_stages) == (0, 0, 1, 0) for r in final.rooms.values())
