"""Many beats and workers may take the same sample or see the same change at once: the database
keeps one live broadcast per room and one sample per slot whatever the interleaving."""

from __future__ import annotations

import pytest
from django.db import connection

from ivsproject.redis import get_redis
from reports import broadcasts
from reports import tasks as report_tasks
from reports.models import Broadcast, BroadcastSample
from stages import hostlive
from tests.concurrency import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The embedded default's test database is SQLite in memory, whose shared cache refuses a second
    # writer outright ("table is locked") instead of making it wait; `make run` has one beat anyway.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"),
]


def run_at_once(target, count: int) -> list[BaseException]:
    return [o for o in at_once(target, count) if isinstance(o, BaseException)]


def test_concurrent_samples_open_one_broadcast_with_one_sample(master_stage, clock):
    get_redis().set(hostlive.live_key("default"), "1")

    errors = run_at_once(report_tasks.sample_broadcasts, 6)

    assert errors == []
    assert Broadcast.objects.count() == 1
    assert BroadcastSample.objects.count() == 1


def test_concurrent_live_signals_open_one_broadcast(master_stage, clock):
    # The receiver itself, six times at once: the host-live flag's own SET … GET lets only one
    # process send the signal, so going through it would race nothing.
    errors = run_at_once(lambda: broadcasts.went_live("default"), 6)

    assert errors == []
    assert Broadcast.objects.filter(ended_at__isnull=True).count() == 1
