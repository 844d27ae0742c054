"""Calls released at the same moment from several threads, for races against one database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def at_once(call: Callable[[], T], count: int, *, timeout: float = 60) -> list[T | BaseException]:
    """`count` threads run `call`, released together by a barrier: each one's result, or the
    exception it raised (so a failed thread is seen, not lost). Each thread closes its own database
    connections when done."""
    start = threading.Barrier(count)
    outcomes: list[T | BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            start.wait(timeout=timeout)
            outcome: T | BaseException = call()
        except BaseException as exc:  # reported to the test, which fails on it
            outcome = exc
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
