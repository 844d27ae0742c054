"""The heartbeat's Redis script on its thread's own connection (ivsproject/redis.py `run_script`): a
connection that Redis dropped, a script Redis forgot or a replaced client never costs a viewer an
error, and many heartbeats from one thread share one connection."""

import pytest

from ivsproject.redis import get_redis, reset_redis
from stages import presence

pytestmark = pytest.mark.django_db


def _join(api, user):
    response = api.post("/api/token/viewer", {"userId": user})
    assert response.status_code == 200, response.json()


def _heartbeat(api, stage, user):
    response = api.post("/api/viewer/heartbeat", {"userId": user, "stageArn": stage.arn})
    assert response.status_code == 200, response.json()
    return presence.get_entry(stage_id=stage.stage_id, user_id=user).last_heartbeat


def _script_clients():
    """Ids of the Redis clients whose last command was a script call (EVALSHA / EVAL)."""
    return {c["id"] for c in get_redis().client_list() if c.get("cmd", "").startswith("eval")}


def test_heartbeats_from_one_thread_share_one_script_connection(api, master_stage, clock):
    _join(api, "v1")
    _heartbeat(api, master_stage, "v1")
    first = _script_clients()
    for _ in range(20):
        clock.advance(1)
        assert _heartbeat(api, master_stage, "v1") == clock.t
    assert _script_clients() == first and len(first) == 1


def test_a_script_connection_redis_dropped_is_replaced_without_an_error(api, master_stage, clock):
    _join(api, "v1")
    _heartbeat(api, master_stage, "v1")
    for client_id in _script_clients():  # as when Redis restarts or an idle timeout closes it
        get_redis().client_kill_filter(_id=client_id)
    for _ in range(3):
        clock.advance(5)
        assert _heartbeat(api, master_stage, "v1") == clock.t


def test_a_script_redis_forgot_is_loaded_again(api, master_stage, clock):
    _join(api, "v1")
    _heartbeat(api, master_stage, "v1")
    get_redis().script_flush()  # as after a restart without persistence
    clock.advance(5)
    assert _heartbeat(api, master_stage, "v1") == clock.t


def test_reset_redis_closes_the_script_connections(api, master_stage, clock):
    _join(api, "v1")
    _heartbeat(api, master_stage, "v1")
    before = _script_clients()
    reset_redis()
    assert not before & {c["id"] for c in get_redis().client_list()}
    clock.advance(5)
    assert _heartbeat(api, master_stage, "v1") == clock.t


def test_a_script_gets_its_keys_as_keys_and_its_arguments_as_argv():
    from ivsproject.redis import LuaScript, slot_key

    echo = LuaScript("return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}")
    first, second = slot_key("t", "a"), slot_key("t", "b")
    assert echo([first, second], ["x"]) == [first, second, "x", 2, 1]
    assert first.split(":")[1] == "{t}"  # the Cluster hash tag: keys of one tag share a slot


def test_the_redis_internals_the_script_connection_reads_are_still_there():
    """The per-thread script connection is built from the pool's `connection_class` and
    `connection_kwargs` (not redis-py's documented API): a redis-py release without them must fail
    here, loudly, before it fails heartbeats in production."""
    pool = get_redis().connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)
    try:
        conn.send_command("PING")
        assert conn.read_response() in ("PONG", b"PONG", True)
    finally:
        conn.disconnect()
