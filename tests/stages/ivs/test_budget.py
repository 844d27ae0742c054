"""The shared AWS call budget delays calls over the IVS quota instead of dropping them."""

from __future__ import annotations

import threading

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


def test_sixth_create_stage_within_one_second_is_delayed_not_dropped(settings, fake_clock):
    """Through the IVS client: the sixth CreateStage of a window waits for the next one (on the
    budget's clock, pinned at x.25 s) and is then made."""
    settings.IVS_STAGE_CALLS_PER_SECOND = 5
    for index in range(5):
        ivs.create_stage(name=f"burst-{index}", tags={})
    assert fake_clock.slept == []  # the first five went straight through

    ivs.create_stage(name="burst-5", tags={})

    assert fake_clock.slept == [pytest.approx(0.75)]  # the sixth waited for the next window
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


def test_budget_is_shared_by_concurrent_callers(settings, fake_clock):
    settings.IVS_STAGE_CALLS_PER_SECOND = 5
    fake_clock.frozen = True  # eight threads arriving within one window, whatever the machine's load
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
    assert sorted(waits) == [0, 0, 0, 0, 0, pytest.approx(0.75), pytest.approx(0.75), pytest.approx(0.75)]
    assert len(fake_clock.slept) == 3


def test_the_windows_one_reservation_reads_share_one_cluster_slot():
    stage_windows = {key_slot(budget.window_key("stage", w).encode()) for w in range(1_000_000, 1_000_010)}
    assert len(stage_windows) == 1
