"""One ticker for the whole deployment, fanned out to every daphne process through channels-redis."""

import threading
import time

import pytest
from django.db import connections

from stats.tasks import push_stats
from tests.stats.servers import daphne_servers
from tests.stats.wsclient import WsClient

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def tick_from_two_workers() -> list[bool]:
    """Two Celery workers handling the same beat tick at the same moment."""
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(push_stats())
        finally:
            connections.close_all()  # a thread's connection would outlive the test database

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return sorted(results)


def assert_exactly_one_push_each(clients, servers) -> None:
    for client, server in zip(clients, servers, strict=True):
        first = client.recv_json(timeout=5)
        assert first["type"] == "stats_update", (first, server.log())
    for client in clients:  # a second push would have been sent together with the first
        assert client.drain(0.3) == []


def test_one_push_per_interval_reaches_subscribers_on_every_process(server_db, tmp_path, settings):
    settings.STATS_PUSH_INTERVAL_SECONDS = 2  # the gate reopens after 1.5 s
    with daphne_servers(server_db, tmp_path, count=2) as servers:
        clients = [WsClient("127.0.0.1", server.port) for server in servers]
        try:
            for client in clients:
                client.send_json({"action": "subscribe", "channel": "stats"})
                snapshot = client.recv_json(timeout=10)
                assert snapshot["type"] == "stats_update", snapshot

            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)

            time.sleep(1.5)  # the next interval
            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)

            # Idle subscribers outlive channels-redis's 5 s blocking pop and still get pushes.
            time.sleep(6.5)
            for client in clients:
                assert client.drain(0.1) == []
            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)
        finally:
            for client in clients:
                client.close()
