"""The shared AWS call budget delays calls over the IVS quota instead of dropping them."""

from __future__ import annotations

import math
import threading
import time

import pytest
from redis.crc import key_slot

from ivsproject.api.exceptions import ServiceUnavailable
from stages import ivs
from stages.ivs import budget


class FakeClock:
    def __init__(self, start: float):
        self.now = start
        self.slept: list[float] = []
        self.frozen = False  # True: every caller arrives at the same instant

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self.frozen:
            self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock(1_000_000.25)
    monkeypatch.setattr(budget, "clock", clock)
    monkeypatch.setattr(budget, "sleep", clock.sleep)
    return clock


def _at_window_start() -> float:
    """Sleep until just after a 1-second window opens, so a burst cannot straddle a boundary."""
    now = time.time()
    time.sleep(math.ceil(now) - now + 0.01)
    return time.time()


def test_sixth_create_stage_within_one_second_is_delayed_not_dropped(settings):
    settings.IVS_STAGE_CALLS_PER_SECOND = 5
    wall_start = _at_window_start()
    started = time.monotonic()
    returned_after = []
    for index in range(6):
        ivs.create_stage(name=f"burst-{index}", tags={})
        returned_after.append(time.monotonic() - started)

    to_next_window = math.floor(wall_start) + 1 - wall_start
    assert max(returned_after[:5]) < to_next_window  # the first five went straight through
    assert returned_after[5] >= to_next_window - 0.02  # the sixth waited for the next window
    assert returned_after[5] < to_next_window + 0.5
    settings.IVS_STAGE_CALLS_PER_SECOND = 10_000
    assert len(ivs.list_stages()) == 6  # none was dropped


def test_budget_waits_until_the_next_window(settings, fake_clock):
    settings.IVS_STAGE_CALLS_PER_SECOND = 5
    waits = [budget.acquire("CreateStage") for _ in range(6)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5] == pytest.approx(0.75)  # from x.25 to the next whole second
    assert fake_clock.slept == [pytest.approx(0.75)]


def test_over_budget_callers_reserve_successive_windows(settings, fake_clock):
    settings.IVS_STAGE_CALLS_PER_SECOND = 2
    fake_clock.frozen = True
    waits = [budget.acquire("GetStage") for _ in range(6)]
    assert waits == [0, 0, pytest.approx(0.75), pytest.approx(0.75), pytest.approx(1.75), pytest.approx(1.75)]


def test_budget_gives_up_with_service_unavailable_after_max_wait(settings, fake_clock):
    settings.IVS_STAGE_CALLS_PER_SECOND = 1
    fake_clock.frozen = True
    for _ in range(3):  # fills windows x, x+1, x+2
        budget.acquire("ListStages", max_wait=2.0)
    with pytest.raises(ServiceUnavailable) as caught:
        budget.acquire("ListStages", max_wait=2.0)
    assert caught.value.details["operation"] == "ListStages"
    assert fake_clock.slept == [pytest.approx(0.75), pytest.approx(1.75)]  # never a sleep beyond max_wait


def test_stage_operations_share_one_budget_and_tokens_have_their_own(settings, fake_clock):
    settings.IVS_STAGE_CALLS_PER_SECOND = 2
    settings.IVS_TOKEN_CALLS_PER_SECOND = 3
    assert budget.acquire("CreateStage") == 0
    assert budget.acquire("ListParticipants") == 0
    assert [budget.acquire("CreateParticipantToken") for _ in range(3)] == [0, 0, 0]
    assert budget.acquire("DeleteStage") == pytest.approx(0.75)


def test_budget_is_shared_by_concurrent_callers(settings):
    settings.IVS_STAGE_CALLS_PER_SECOND = 5
    _at_window_start()
    waits: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        waited = budget.acquire("GetStage")
        with lock:
            waits.append(waited)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits)[:5] == [0, 0, 0, 0, 0]
    assert all(wait > 0.5 for wait in sorted(waits)[5:])


def test_the_windows_one_reservation_reads_share_one_cluster_slot():
    stage_windows = {key_slot(budget.window_key("stage", w).encode()) for w in range(1_000_000, 1_000_010)}
    assert len(stage_windows) == 1
