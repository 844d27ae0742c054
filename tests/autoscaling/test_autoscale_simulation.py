"""Acceptance: a scripted audience 0 → 300 → 0 against the real services (bench/autoscale_sim.py)."""

import math

import pytest

from bench.autoscale_sim import audience_plan, simulate

pytestmark = pytest.mark.django_db


def test_ramp_up_hold_ramp_down_scales_out_and_back_to_the_master(settings):
    settings.STAGE_MAX_PARTICIPANTS = 50
    settings.MAX_STAGES = 20
    settings.SCALE_UP_THRESHOLD = 45
    settings.SCALE_DOWN_THRESHOLD = 5
    settings.STAGE_WARMUP_SECONDS = 300
    plan = audience_plan()
    result = simulate(plan)

    assert result.stage_full_with_room == 0  # nobody was refused while a stage could be created
    assert result.over_capacity == 0
    assert all(step.fullest_stage <= 50 for step in result.steps)
    peak = plan.index(300)
    for step in result.steps[: peak + 1]:  # ramp up: a new stage as soon as every stage is hot
        assert step.active_stages == min(step.viewers // 45 + 1, 20), step
        assert step.active_stages >= math.ceil(step.viewers / 50)
    assert max(step.active_stages for step in result.steps) == 7
    for step in result.steps:  # never fewer seats than viewers, at any point
        assert (step.active_stages + step.draining_stages) * 50 >= step.viewers
    final = result.steps[-1]
    assert final.viewers == 0 and final.active_stages == 1 and final.draining_stages == 0
