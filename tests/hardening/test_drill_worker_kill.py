"""Drill: a Celery worker is SIGKILLed in the middle of the viewer cleanup or of an autoscale tick.

The task functions a worker runs are started in a subprocess (tests/hardening/drill_worker.py)
against a scratch database and the run's Redis, stopped at a hook point and SIGKILLed there —
no `finally`, no lock release. Then: the run lock is still held (a second run right away skips)
and has a TTL, so it expires; the next run completes the work; nothing is counted twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.hardening.drills import record, scratch
from tests.processes import ROOT

pytestmark = pytest.mark.slow

LOCK_TTL = 20  # drill_worker.LOCK_TTL
VIEWERS = 40
KILL_AFTER = 15


def worker(box, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "tests.hardening.drill_worker", *args], env=box.env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def killed_at_hook(box, *args: str) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "tests.hardening.drill_worker", *args], env=box.env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()  # blocks until the hook point (or the process dies)
        assert line.strip() == "HOOK", (line, proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    return time.monotonic()


def wait_for_lock_expiry(killed_at: float) -> None:
    time.sleep(max(0.0, killed_at + LOCK_TTL + 0.5 - time.monotonic()))


def state(box) -> dict:
    return json.loads(worker(box, "state"))


def test_cleanup_killed_midway_is_finished_by_the_next_run_without_double_counting(tmp_path):
    with scratch(tmp_path, HEARTBEAT_TIMEOUT_SECONDS="60") as box:
        worker(box, "seed-expired", str(VIEWERS))

        killed_at = killed_at_hook(box, "cleanup-then-hang", str(KILL_AFTER))
        after_kill = state(box)
        skipped = worker(box, "cleanup")  # the dead worker's lock is still held
        wait_for_lock_expiry(killed_at)
        report = json.loads(worker(box, "cleanup"))
        final = state(box)
        again = json.loads(worker(box, "cleanup"))
        replay = state(box)

    # The kill left work half done: some sessions closed, every seat still taken.
    assert after_kill["sessions_closed"] == KILL_AFTER
    assert after_kill["master_presence"] == VIEWERS
    assert 0 < after_kill["cleanup_lock_ttl_ms"] <= LOCK_TTL * 1000
    assert skipped == "null"
    # The next run finished it: everyone closed exactly once, at their last heartbeat.
    assert report["sessions_closed"] == VIEWERS - KILL_AFTER and report["expired"] == VIEWERS
    assert (final["sessions_closed"], final["sessions_open"], final["master_presence"]) == (VIEWERS, 0, 0)
    assert final["watched_total"] == pytest.approx(VIEWERS * 60.0)
    for user, left in after_kill["left_at"].items():
        if left is not None:
            assert final["left_at"][user] == left, "a session closed before the kill was closed again"
    # Running again changes nothing.
    assert (again["sessions_closed"], again["expired"]) == (0, 0) and replay == final | {"cleanup_lock_ttl_ms": -2}
    record(
        "worker_killed_during_cleanup",
        viewers=VIEWERS,
        closed_before_kill=KILL_AFTER,
        second_run_right_after_kill="skipped (lock held)",
        lock_ttl_after_kill_ms=after_kill["cleanup_lock_ttl_ms"],
        closed_by_next_run=report["sessions_closed"],
        watched_seconds_total=final["watched_total"],
        expected_watched_seconds_total=VIEWERS * 60.0,
    )


def test_autoscale_killed_between_create_and_record_is_adopted_not_duplicated(tmp_path):
    env = {"STAGE_MAX_PARTICIPANTS": "10", "SCALE_UP_THRESHOLD": "8", "SCALE_DOWN_THRESHOLD": "2"}
    with scratch(tmp_path, **env) as box:
        worker(box, "seed-hot-master", "9")

        killed_at = killed_at_hook(box, "autoscale-then-hang")
        after_kill = state(box)
        skipped = worker(box, "autoscale")
        wait_for_lock_expiry(killed_at)
        decisions = json.loads(worker(box, "autoscale"))
        final = state(box)
        json.loads(worker(box, "autoscale"))
        replay = state(box)

    assert after_kill["autoscaled_in_ivs"] == ["autoscale-stage-1"] and after_kill["overflow_in_db"] == []
    assert 0 < after_kill["autoscale_lock_ttl_ms"] <= LOCK_TTL * 1000
    assert skipped == "null"
    assert any(d.startswith("adopt") for d in decisions), decisions
    assert not any(d.startswith("create") for d in decisions), decisions
    assert final["overflow_in_db"] == final["autoscaled_in_ivs"] == ["autoscale-stage-1"]
    assert replay["overflow_in_db"] == replay["autoscaled_in_ivs"] == ["autoscale-stage-1"]
    record(
        "worker_killed_during_autoscale",
        killed="between CreateStage and the database write",
        orphans_after_kill=after_kill["autoscaled_in_ivs"],
        lock_ttl_after_kill_ms=after_kill["autoscale_lock_ttl_ms"],
        next_run=[d.split()[0] for d in decisions],
        stages_after=final["overflow_in_db"],
    )
