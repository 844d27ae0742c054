"""ivsproject.groupcommit.GroupCommit on its own: a fake flush function and threads, no database.

Ordering is driven by events, never by sleeping: each flush holds until the test releases it, a
caller is started only once the previous one is queued, and the follower timeouts that must end at
a given moment run on a clock the test turns (`Clock`)."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from ivsproject import groupcommit
from ivsproject.groupcommit import GroupCommit, GroupCommitError, GroupCommitTimeout


class Batch:
    """One call of the fake flush: its items and thread; it returns once the test releases it."""

    def __init__(self, items):
        self.items = items
        self.thread = threading.current_thread().name
        self._go = threading.Event()
        self._answer = None
        self._error = None

    def release(self, answer=None, error=None):
        self._answer, self._error = answer, error
        self._go.set()


class HeldFlush:
    """The fake write: records each batch, holds it until released, then answers `done:<item>` per
    item (or what `release` was given, or raises its error)."""

    def __init__(self):
        self.batches: list[Batch] = []
        self._entered: queue.Queue[Batch] = queue.Queue()

    def __call__(self, items):
        batch = Batch(list(items))
        self.batches.append(batch)
        self._entered.put(batch)
        if not batch._go.wait(10):
            raise AssertionError("the test never released this flush")
        if batch._error is not None:
            raise batch._error
        return batch._answer if batch._answer is not None else [f"done:{item}" for item in items]

    def next_batch(self) -> Batch:
        return self._entered.get(timeout=10)

    def flushed_items(self):
        return [batch.items for batch in self.batches]


class Caller(threading.Thread):
    """`commit.submit(item)` on its own thread (named after the item), keeping what it returned or
    raised."""

    def __init__(self, commit, item):
        super().__init__(name=str(item), daemon=True)
        self.commit, self.item = commit, item
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.commit.submit(self.item)
        except BaseException as exc:
            self.error = exc

    def outcome(self):
        self.join(10)
        assert not self.is_alive(), f"caller {self.item} still waits"
        return self.error if self.error is not None else self.result


def _until(condition):
    """Waits for a state the other threads reach (not for time to pass); fails after 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the threads never got there"
        time.sleep(0.001)


def _lead(commit, flush, item):
    """A caller that leads: its flush of `item` alone is in flight (and held) when this returns."""
    caller = Caller(commit, item)
    caller.start()
    batch = flush.next_batch()
    assert batch.items == [item]
    return caller, batch


def _queue(commit, *items):
    """Callers that queue behind the flush in flight, started one by one so they queue in order."""
    callers = []
    for item in items:
        caller = Caller(commit, item)
        expected = commit.pending + 1
        caller.start()
        _until(lambda expected=expected: commit.pending == expected)
        callers.append(caller)
    return callers


def _unanswered(callers):
    return all(c.is_alive() and c.result is None and c.error is None for c in callers)


class Clock:
    """Follower timeouts that end when the test says so: `run_out()` ends every timed wait, now and
    later, that its answer has not ended first."""

    def __init__(self):
        self.changed = threading.Condition()
        self.ran_out = False
        # Called by a wait that ran out, before it returns: lets the test deliver the answer in the
        # gap between a wait's end and the waiter's next step.
        self.before_timeout = None

    def run_out(self):
        with self.changed:
            self.ran_out = True
            self.changed.notify_all()


@pytest.fixture
def clock(monkeypatch):
    """Every GroupCommit call made during the test waits on `Clock`'s time, not the wall clock's."""
    test_clock = Clock()

    class ClockedEvent:
        def __init__(self):
            self._set = False

        def set(self):
            with test_clock.changed:
                self._set = True
                test_clock.changed.notify_all()

        def is_set(self):
            return self._set

        def wait(self, timeout=None):
            with test_clock.changed:
                test_clock.changed.wait_for(lambda: self._set or (timeout is not None and test_clock.ran_out))
                if self._set:
                    return True
            if test_clock.before_timeout is not None:
                test_clock.before_timeout(self)
            return False

    class ClockedCall(groupcommit._Call):
        def __init__(self, item):
            super().__init__(item)
            self.ready = ClockedEvent()

    monkeypatch.setattr(groupcommit, "_Call", ClockedCall)
    return test_clock


def test_a_lone_submit_is_flushed_at_once_on_the_callers_own_thread():
    seen = []

    def flush(items):
        seen.append((items, threading.current_thread()))
        return [item * 2 for item in items]

    commit = GroupCommit(flush, limit=8)
    assert commit.submit(21) == 42
    assert commit.submit(5) == 10
    assert seen == [([21], threading.current_thread()), ([5], threading.current_thread())]


def test_submits_that_arrive_during_a_flush_share_the_next_one_and_each_gets_its_own_result():
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    others = _queue(commit, "b", "c", "d")
    assert _unanswered(others), "answered before their flush ran"
    batch.release()
    second = flush.next_batch()
    assert second.items == ["b", "c", "d"]
    assert second.thread == "b", "the first follower leads the next batch on its own thread"
    assert first.outcome() == "done:a"
    assert _unanswered(others), "answered before their flush returned"
    second.release(answer=["B", "C", "D"])
    assert [c.outcome() for c in others] == ["B", "C", "D"]
    assert commit.pending == 0
    alone, batch = _lead(commit, flush, "e")  # nothing in flight: the next caller leads at once
    batch.release()
    assert alone.outcome() == "done:e"


def test_a_batch_holds_at_most_limit_items_and_the_rest_go_in_the_next():
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=2)
    first, batch = _lead(commit, flush, 1)
    others = _queue(commit, 2, 3, 4)
    batch.release()
    second = flush.next_batch()
    assert second.items == [2, 3]
    second.release()
    third = flush.next_batch()
    assert third.items == [4] and third.thread == "4"
    third.release()
    assert [first.outcome(), *(c.outcome() for c in others)] == ["done:1", "done:2", "done:3", "done:4"]


def test_an_exception_as_an_items_outcome_reaches_that_caller_only():
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    others = _queue(commit, "b", "c", "d")
    batch.release()
    bad = ValueError("c was refused")
    flush.next_batch().release(answer=["B", bad, "D"])
    assert [c.outcome() for c in others] == ["B", bad, "D"]
    assert first.outcome() == "done:a"


def test_a_failed_flush_fails_every_caller_of_its_batch_and_not_the_next_batch():
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    failing = _queue(commit, "b", "c")
    batch.release()
    second = flush.next_batch()
    assert second.items == ["b", "c"]
    later = _queue(commit, "d")  # arrives while the failing batch is in flight
    boom = RuntimeError("the write failed")
    second.release(error=boom)
    third = flush.next_batch()
    assert third.items == ["d"]
    third.release()
    assert first.outcome() == "done:a"
    assert [c.outcome() for c in failing] == [boom, boom]
    assert later[0].outcome() == "done:d"


def test_a_flush_answering_for_the_wrong_number_of_items_fails_its_batch_clearly():
    commit = GroupCommit(lambda items: [], limit=8)
    with pytest.raises(GroupCommitError, match="0 outcomes for 1 items"):
        commit.submit("a")


def test_an_interrupted_flush_leaves_no_follower_waiting():
    class Interrupt(BaseException):
        pass

    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    followers = _queue(commit, "b", "c")
    batch.release()
    flush.next_batch().release(error=Interrupt())
    leader, other = followers
    assert isinstance(leader.outcome(), Interrupt), "the thread that ran the flush sees the interruption"
    assert isinstance(other.outcome(), GroupCommitError)
    assert first.outcome() == "done:a"
    second = Caller(commit, "d")  # the lead was given back: a new caller leads at once
    second.start()
    flush.next_batch().release()
    assert second.outcome() == "done:d"


def test_a_follower_still_queued_at_its_timeout_is_withdrawn_and_told_so():
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8, timeout=0.05)
    first, batch = _lead(commit, flush, "a")  # held until after the follower has given up
    follower = Caller(commit, "b")
    follower.start()
    error = follower.outcome()
    assert isinstance(error, GroupCommitTimeout)
    assert "not written" in str(error) and "withdrawn" in str(error)
    assert commit.pending == 0
    batch.release()
    assert first.outcome() == "done:a"
    assert flush.flushed_items() == [["a"]], "a withdrawn item was flushed"


def test_a_withdrawn_follower_is_skipped_when_the_lead_is_handed_on(clock):
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    (gave_up,) = _queue(commit, "b")
    clock.run_out()
    assert isinstance(gave_up.outcome(), GroupCommitTimeout)
    clock.ran_out = False
    (waiting,) = _queue(commit, "c")
    batch.release()
    second = flush.next_batch()
    assert second.items == ["c"] and second.thread == "c"
    second.release()
    assert waiting.outcome() == "done:c"
    assert first.outcome() == "done:a"


def test_a_follower_whose_flush_outlasts_its_timeout_is_told_the_outcome_is_unknown(clock):
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    leader, follower = _queue(commit, "b", "c")
    batch.release()
    second = flush.next_batch()  # "b" flushes "b" and "c", and holds
    assert second.items == ["b", "c"]
    clock.run_out()
    error = follower.outcome()
    assert isinstance(error, GroupCommitTimeout) and "unknown" in str(error)
    assert leader.is_alive(), "the caller running the flush is not bounded by the timeout"
    second.release()
    assert leader.outcome() == "done:b"
    assert first.outcome() == "done:a"


def test_a_follower_answered_just_as_its_wait_runs_out_gets_its_answer(clock):
    flush = HeldFlush()
    commit = GroupCommit(flush, limit=8)
    first, batch = _lead(commit, flush, "a")
    leader, follower = _queue(commit, "b", "c")
    batch.release()
    second = flush.next_batch()
    assert second.items == ["b", "c"]

    def answer_first(event):  # the flush returns between the wait's end and the follower's next step
        second.release()
        _until(event.is_set)

    clock.before_timeout = answer_first
    clock.run_out()
    assert follower.outcome() == "done:c"
    assert leader.outcome() == "done:b"
    assert first.outcome() == "done:a"


def test_the_timeout_defaults_to_a_bound_and_can_be_changed():
    commit = GroupCommit(lambda items: items, limit=4)
    assert commit.timeout == groupcommit.DEFAULT_TIMEOUT > 0
    commit.timeout = 2.5
    assert commit.timeout == 2.5
    with pytest.raises(ValueError):
        GroupCommit(lambda items: items, limit=0)
