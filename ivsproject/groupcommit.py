"""Group commit within one process: callers that arrive while another caller's write is in flight
wait, and the next write carries all of them (up to a limit) at once.

The coordination is here; what a write is belongs to the caller, as a `flush` function that takes
a batch of items and writes them together (one statement and one commit, say), returning one
outcome per item: a result, or an exception instance for an item that failed on its own.

- A lone caller goes straight through: the caller that finds nothing in flight leads and runs
  `flush` on its own thread with just its item (no timer, no extra thread).
- Callers arriving meanwhile queue. When the leader's flush returns, the first of them leads the
  next batch: everything queued by then. So a caller runs at most one flush, and the batch is
  whatever arrived while the previous one was in flight.
- Nothing is answered before its own flush has returned: `submit` returns the caller's own outcome
  (or raises it), so whatever the flush guarantees (a commit) holds for each caller when it returns.
- A flush that raises fails every caller of that batch with that exception; the next batch is
  flushed afresh.
- A follower waits `timeout` seconds at most. If its item is still queued then, it is withdrawn
  (never written) and the caller gets `GroupCommitTimeout`; if its item is in a flush still
  running, the caller gets `GroupCommitTimeout` too, saying the outcome is unknown.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["DEFAULT_TIMEOUT", "GroupCommit", "GroupCommitError", "GroupCommitTimeout"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

# Seconds a follower waits for its answer unless told otherwise: the flush in flight and its own
# batch's, with room for a slow commit, yet well short of what a client waits for a response.
DEFAULT_TIMEOUT = 10.0


class GroupCommitError(RuntimeError):
    """The batch could not be flushed as a batch (the flush was interrupted, or answered for a
    different number of items than it was given)."""


class GroupCommitTimeout(TimeoutError):
    """A follower's answer did not come within the timeout."""


class GroupCommit(Generic[ItemT, ResultT]):
    """Batches concurrent `submit(item)` calls into calls of `flush(items)`; see the module's doc.

    `flush` must return one outcome per item, in order; an outcome that is an `Exception` instance
    is raised to that item's caller, anything else is returned to it. `limit` caps the items per
    flush; `timeout` (seconds, or None for no bound) caps a follower's wait and may be changed at
    any time. Thread-safe; one instance per process (or per resource) is the intended use.
    """

    def __init__(
        self,
        flush: Callable[[list[ItemT]], Sequence[ResultT | Exception]],
        *,
        limit: int,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.timeout = timeout
        self._flush = flush
        self._lock = threading.Lock()
        self._queue: collections.deque[_Call[ItemT, ResultT]] = collections.deque()
        self._leading = False

    @property
    def pending(self) -> int:
        """Callers waiting for a batch (queued, not yet in a flush)."""
        with self._lock:
            return len(self._queue)

    def submit(self, item: ItemT) -> ResultT:
        """Write `item` in the next batch and return its outcome once that batch's flush has
        returned (or raise it: the item's own exception, the flush's, or `GroupCommitTimeout`)."""
        call: _Call[ItemT, ResultT] = _Call(item)
        with self._lock:
            if self._leading:
                self._queue.append(call)
            else:
                self._leading = call.leads = True
        if not call.leads:
            self._wait(call)
            if not call.leads:
                return call.result()
        return self._lead(call)

    def _wait(self, call: _Call[ItemT, ResultT]) -> None:
        """Until the call is answered or handed the lead; raises `GroupCommitTimeout` past the
        timeout."""
        timeout = self.timeout
        if call.ready.wait(timeout):
            return
        with self._lock:  # answers and hand-overs happen under the lock: no answer is lost here
            if call.ready.is_set():
                return
            if not call.in_flush:
                self._queue.remove(call)  # withdrawn: no flush will ever see it
                raise GroupCommitTimeout(
                    f"not written: waited {timeout:g} s behind a flush that is still running; the item was withdrawn"
                )
        raise GroupCommitTimeout(
            f"no answer within {timeout:g} s: the flush holding this item is still running, "
            "so whether it was written is unknown"
        )

    def _lead(self, call: _Call[ItemT, ResultT]) -> ResultT:
        with self._lock:
            batch = [call]
            while self._queue and len(batch) < self.limit:
                batch.append(self._queue.popleft())
            for member in batch:
                member.in_flush = True
        outcomes: Sequence[ResultT | Exception] | None = None
        try:
            outcomes = list(self._flush([member.item for member in batch]))
            if len(outcomes) != len(batch):
                outcomes = [GroupCommitError(f"flush answered {len(outcomes)} outcomes for {len(batch)} items")] * len(
                    batch
                )
        except Exception as exc:
            outcomes = [exc] * len(batch)
        finally:
            if outcomes is None:  # not an Exception (KeyboardInterrupt, SystemExit): it goes on up
                outcomes = [GroupCommitError("the flush was interrupted")] * len(batch)
            with self._lock:
                for member, outcome in zip(batch, outcomes, strict=True):
                    member.outcome = outcome
                    member.ready.set()
                if self._queue:
                    follower = self._queue.popleft()
                    follower.leads = True
                    follower.ready.set()
                else:
                    self._leading = False
        return call.result()


class _Call(Generic[ItemT, ResultT]):
    __slots__ = ("in_flush", "item", "leads", "outcome", "ready")

    def __init__(self, item: ItemT) -> None:
        self.item = item
        self.ready = threading.Event()
        self.leads = False
        self.in_flush = False
        self.outcome: ResultT | Exception | None = None

    def result(self) -> ResultT:
        outcome = self.outcome
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]  # set by the flush before `ready`
