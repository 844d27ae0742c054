"""The autoscaler's limits, exactly at and one past each: SCALE_DOWN_THRESHOLD (≤ drains),
SCALE_UP_THRESHOLD (≥ is hot), STAGE_WARMUP_SECONDS (old enough once the warm-up has fully passed)
and the absorb rule (the others must end up below the scale-up threshold)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscaling import autoscaler
from stages import services
from stages.models import Stage
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db

UP, DOWN, WARMUP = 45, 5, 300


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.SCALE_UP_THRESHOLD = UP
    settings.SCALE_DOWN_THRESHOLD = DOWN
    settings.STAGE_WARMUP_SECONDS = WARMUP
    settings.MAX_STAGES = 20


def overflow(name="autoscale-stage-1"):
    stage = services.stage_create(name=name, role="overflow", managed_by="auto-scaler")
    stage.refresh_from_db()  # created_at exactly as stored
    return stage


def warm(stage):
    """A moment when the stage's warm-up is long over."""
    return stage.created_at + timedelta(seconds=WARMUP * 10)


def actions(decisions):
    return [(d.action, d.stage) for d in decisions]


def status_of(stage):
    return Stage.objects.get(pk=stage.pk).status


# --- scale-down threshold -------------------------------------------------------------------


def test_a_stage_at_exactly_the_scale_down_threshold_is_drained(master_stage):
    extra = overflow()
    track_viewers(master_stage, 10)
    track_viewers(extra, DOWN, prefix="o")
    assert actions(autoscaler.autoscale_tick(now=warm(extra))) == [("drain", extra.arn)]
    assert status_of(extra) == Stage.Status.DRAINING


def test_a_stage_one_past_the_scale_down_threshold_is_kept(master_stage):
    extra = overflow()
    track_viewers(master_stage, 10)
    track_viewers(extra, DOWN + 1, prefix="o")
    assert autoscaler.autoscale_tick(now=warm(extra)) == []
    assert status_of(extra) == Stage.Status.ACTIVE


def test_an_empty_stage_is_drained_with_threshold_zero(master_stage, settings):
    settings.SCALE_DOWN_THRESHOLD = 0
    extra = overflow()
    track_viewers(master_stage, 3)
    # empty: drained and, in the same tick, deleted
    assert actions(autoscaler.autoscale_tick(now=warm(extra))) == [("drain", extra.arn), ("delete", extra.arn)]


def test_one_viewer_keeps_a_stage_with_threshold_zero(master_stage, settings):
    settings.SCALE_DOWN_THRESHOLD = 0
    extra = overflow()
    track_viewers(master_stage, 3)
    track_viewers(extra, 1, prefix="o")
    assert autoscaler.autoscale_tick(now=warm(extra)) == []


# --- the others must absorb the load below the scale-up threshold ---------------------------


def test_drained_when_the_others_end_one_below_the_scale_up_threshold(master_stage):
    extra = overflow()
    track_viewers(master_stage, UP - 1 - DOWN)
    track_viewers(extra, DOWN, prefix="o")  # total UP - 1: the master would hold UP - 1 < UP
    assert actions(autoscaler.autoscale_tick(now=warm(extra))) == [("drain", extra.arn)]


def test_kept_when_the_others_would_reach_the_scale_up_threshold(master_stage):
    extra = overflow()
    track_viewers(master_stage, UP - DOWN)
    track_viewers(extra, DOWN, prefix="o")  # total UP: the master would be hot again at once
    assert autoscaler.autoscale_tick(now=warm(extra)) == []
    assert status_of(extra) == Stage.Status.ACTIVE


# --- scale-up threshold ---------------------------------------------------------------------


def test_every_active_stage_one_below_the_scale_up_threshold_is_not_hot(master_stage):
    extra = overflow()
    track_viewers(master_stage, UP - 1)
    track_viewers(extra, UP - 1, prefix="o")
    assert autoscaler.autoscale_tick(now=timezone.now()) == []
    assert Stage.objects.exclude(status=Stage.Status.DELETED).count() == 2


def test_every_active_stage_at_exactly_the_scale_up_threshold_scales_up(master_stage):
    extra = overflow()
    track_viewers(master_stage, UP)
    track_viewers(extra, UP, prefix="o")
    assert [d.action for d in autoscaler.autoscale_tick(now=timezone.now())] == ["create"]
    assert Stage.objects.exclude(status=Stage.Status.DELETED).count() == 3


def test_one_stage_below_the_threshold_means_no_scale_up(master_stage):
    extra = overflow()
    track_viewers(master_stage, UP)
    track_viewers(extra, UP - 1, prefix="o")
    assert autoscaler.autoscale_tick(now=timezone.now()) == []


def test_a_lone_master_at_exactly_the_threshold_scales_up_and_one_below_does_not(master_stage):
    users = track_viewers(master_stage, UP - 1)
    assert autoscaler.autoscale_tick() == []
    track_viewers(master_stage, 1, prefix="last")
    assert [d.action for d in autoscaler.autoscale_tick()] == ["create"]
    assert len(users) == UP - 1


# --- warm-up --------------------------------------------------------------------------------


def test_a_stage_exactly_at_the_end_of_its_warm_up_may_drain(master_stage):
    extra = overflow()
    track_viewers(master_stage, 10)
    track_viewers(extra, 1, prefix="o")  # one viewer left: drained, not deleted yet
    at = extra.created_at + timedelta(seconds=WARMUP)
    assert actions(autoscaler.autoscale_tick(now=at)) == [("drain", extra.arn)]


def test_a_stage_one_second_before_the_end_of_its_warm_up_is_kept(master_stage):
    extra = overflow()
    track_viewers(master_stage, 10)
    track_viewers(extra, 1, prefix="o")
    at = extra.created_at + timedelta(seconds=WARMUP - 1)
    assert autoscaler.autoscale_tick(now=at) == []
    assert status_of(extra) == Stage.Status.ACTIVE
