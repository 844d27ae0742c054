"""The one Redis connection pool of a process (presence, locks, budgets, emulator state).

Timeouts are short on purpose: when Redis is down a request must fail fast with a 503
envelope instead of holding a worker (docs/operations.md, failure drills).
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from django.conf import settings

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_url: str | None = None


def get_redis() -> redis.Redis:
    """The process's client. Its pool decodes replies, so every string reply is a `str`; redis-py's
    annotations say `bytes | str`, so a caller that needs a `str` says so (`str(...)`)."""
    global _client, _client_url
    url = settings.REDIS_URL
    if _client is None or _client_url != url:
        with _lock:
            if _client is None or _client_url != url:
                _client = redis.Redis.from_url(
                    url,
                    decode_responses=True,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                    socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                    health_check_interval=30,
                    max_connections=200,
                )
                _client_url = url
    return _client


def text(value: bytes | str | None) -> str | None:
    """A reply as the `str` it is (the pool decodes replies; redis-py's types cannot say so)."""
    return value.decode() if isinstance(value, bytes) else value


def text_map(value: Mapping[bytes | str, bytes | str] | None) -> dict[str, str]:
    """A hash reply (HGETALL) as the `dict[str, str]` it is."""
    return {str(text(k)): str(text(v)) for k, v in (value or {}).items()}


def reset_redis() -> None:
    """Drop the process's client and its pooled connections; the next `get_redis()` reconnects
    using the current settings (tests that point REDIS_URL elsewhere, forked workers)."""
    global _client, _client_url
    with _lock:
        if _client is not None:
            _client.connection_pool.disconnect()
        for conn in list(_script_connections):
            conn.disconnect()
        _client = None
        _client_url = None


def key(*parts: object) -> str:
    """Namespaced key: every key we own starts with REDIS_KEY_PREFIX (shared Redis is safe)."""
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(p) for p in parts)])


def slot_key(tag: str, *parts: object) -> str:
    """A namespaced key that meets others of the same `tag` in one Lua script: `prefix:{tag}:...`.
    Redis Cluster hashes only the text between the braces, so keys of one tag share a slot and a
    script may touch them together; a standalone Redis ignores the braces."""
    return key(f"{{{tag}}}", *parts)


_script_connections: weakref.WeakSet[Any] = weakref.WeakSet()
_own = threading.local()


def _script_connection(pool: Any) -> Any:
    """This thread's own connection to the pool's server, for `LuaScript`: outside the pool, so a
    call skips the pool's lock, its observability records and its `can_read` poll (a syscall).

    This reads two attributes of redis-py's connection pool (`connection_class`,
    `connection_kwargs`) to open a connection configured exactly like the pool's: the one place
    the project leans on redis-py beyond its documented client API. redis is pinned to a minor
    range in requirements.in, and tests/api/test_redis_scripts.py fails if these change.
    """
    held = getattr(_own, "held", None)
    pid = os.getpid()
    if held is not None and held[0] is pool and held[1] == pid:
        return held[2]
    if held is not None and held[1] == pid:
        held[2].disconnect()  # this thread's connection to a pool since replaced (reset_redis)
    conn = pool.connection_class(**pool.connection_kwargs)
    with _lock:
        _script_connections.add(conn)
    _own.held = (pool, pid, conn)
    return conn


class LuaScript:
    """One Lua script of the project: every script (presence, budgets, host-live, the emulator)
    runs through here.

    Keys are passed as KEYS, so a script touches only keys it declares (what Redis Cluster needs:
    keys that meet in one script share a hash tag, see `key`). The script is loaded once per
    server: EVALSHA, and after a Redis restart forgot it, SCRIPT LOAD and the same call again.

    Why a connection of its own per thread: redis-py's command path (retry wrapper, observability
    hooks, pool lock, a `poll` before every reply) was about a third of a heartbeat's CPU in the
    client (docs/performance.md). Anything unusual (a broken connection) is retried once through
    the normal client, with redis-py's own reconnect; a timeout (a hung Redis) or a script's own
    error is raised as it is. Every failure drops the connection, so none is reused with a reply
    left unread.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        conn = _script_connection(get_redis().connection_pool)
        try:
            try:
                conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                conn.send_command("SCRIPT", "LOAD", self.source)
                conn.read_response()
                conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
                return conn.read_response()
        except redis.exceptions.ResponseError:
            raise  # the script's own error: the connection is in a clean state
        except redis.ConnectionError:
            conn.disconnect()  # e.g. a connection Redis closed when it restarted: retried below
        except BaseException:
            conn.disconnect()  # a timeout is final: a retry would only double the wait
            raise
        client = get_redis()
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)
