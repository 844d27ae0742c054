"""The one Redis connection pool of a process (presence, locks, budgets, emulator state).

Timeouts are short on purpose: when Redis is down a request must fail fast with a 503
envelope instead of holding a worker (issue: failure drills).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import redis
from django.conf import settings

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_url: str | None = None


def get_redis() -> Any:
    # Typed Any on purpose: the pool decodes responses (every reply is `str`), which redis-py's
    # annotations (`bytes | str`) cannot express; one Any here beats a cast at every call site.
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


_script_connections: weakref.WeakSet[Any] = weakref.WeakSet()
_own = threading.local()


def _script_connection(pool: Any) -> Any:
    """This thread's own connection to the pool's server, for `run_script`: outside the pool, so a
    call skips the pool's lock, its observability records and its `can_read` poll (a syscall)."""
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


def run_script(script: Any, args: list[Any]) -> Any:
    """EVALSHA of a registered script (no KEYS) on this thread's own connection, without redis-py's
    per-command wrapper or its pool.

    Why (bench/, issue 7): redis-py's command path (retry wrapper, observability hooks, closures)
    is about half of the client's CPU for one script call — ~10 µs of a heartbeat's ~80 µs in
    process; taking a pooled connection and giving it back is another ~15 µs and a `poll` syscall.
    One connection per thread is one per web worker thread (16 on two cores). Anything unusual
    (the script not loaded yet, a broken connection) goes through the normal `script(args=...)`
    call, with redis-py's own reload and retry; a timeout or a script's own error (ResponseError)
    is raised as it is. Every failure drops the connection, so none is ever reused with a reply
    left unread; the next call reconnects.
    """
    conn = _script_connection(script.registered_client.connection_pool)
    try:
        conn.send_command("EVALSHA", script.sha, 0, *args)
        return conn.read_response()
    except redis.exceptions.NoScriptError:
        pass
    except redis.ConnectionError:
        conn.disconnect()  # e.g. a connection Redis closed when it restarted: retried below
    except BaseException:
        conn.disconnect()  # a timeout (a hung Redis) is final: a retry would only double the wait
        raise
    return script(args=args)
