"""One ticker for the whole deployment, fanned out to every daphne process through channels-redis."""

import threading
import time

import pytest
from django.db import connections

from ivsproject.redis import get_redis, key
from stats.tasks import push_stats
from tests.stats.servers import daphne_servers, manage
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
    settings.STATS_PUSH_INTERVAL_SECONDS = 2
    with daphne_servers(server_db, tmp_path, count=2) as servers:
        clients = [WsClient("127.0.0.1", server.port) for server in servers]
        try:
            for client in clients:
                client.send_json({"action": "subscribe", "channel": "stats"})
                snapshot = client.recv_json(timeout=10)
                assert snapshot["type"] == "stats_update", snapshot

            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)

            # The next interval: the gate's lifetime in Redis ends (played by removing the key).
            get_redis().delete(key("stats", "push-gate"))
            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)

            # Idle subscribers outlive channels-redis's 5 s blocking pop and still get pushes. A real
            # wait: the pop runs inside the daphne processes, whose clocks a test cannot pin.
            time.sleep(6.5)
            for client in clients:
                assert client.drain(0.1) == []
            assert tick_from_two_workers() == [False, True]
            assert_exactly_one_push_each(clients, servers)
        finally:
            for client in clients:
                client.close()


def test_room_frames_reach_their_subscribers_on_every_process_once(server_db, tmp_path):
    """Per-room and overview frames over two daphne processes: each subscriber gets its own rooms'
    frames from the one push, once."""
    manage(server_db, "ensure_master_stage")
    manage(server_db, "create_room", "r1")
    with daphne_servers(server_db, tmp_path, count=2) as servers:
        first, second = (WsClient("127.0.0.1", server.port) for server in servers)
        try:
            first.send_json({"action": "subscribe", "channel": "stats", "roomId": "r1"})
            assert first.recv_json(timeout=10)["data"]["roomId"] == "r1"
            second.send_json({"action": "subscribe", "channel": "rooms"})
            assert second.recv_json(timeout=10)["type"] == "rooms_update"
            second.send_json({"action": "subscribe", "channel": "stats"})
            assert "roomId" not in second.recv_json(timeout=10)["data"]

            manage(server_db, "shell", "-c", "from stats.tasks import push_stats_now; push_stats_now(reason='test')")

            [frame] = first.drain(1.0)
            assert (frame["type"], frame["data"]["roomId"]) == ("stats_update", "r1"), frame
            frames = second.drain(1.0)
            assert sorted(f["type"] for f in frames) == ["rooms_update", "stats_update"], frames
            [overview] = [f["data"] for f in frames if f["type"] == "rooms_update"]
            assert [r["roomId"] for r in overview["rooms"]] == ["default", "r1"]
        finally:
            first.close()
            second.close()
