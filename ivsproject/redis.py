"""The one Redis connection pool of a process (presence, locks, budgets, emulator state).

Timeouts are short on purpose: when Redis is down a request must fail fast with a 503
envelope instead of holding a worker (issue: failure drills).
"""

from __future__ import annotations

import threading
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
        _client = None
        _client_url = None


def key(*parts: object) -> str:
    """Namespaced key: every key we own starts with REDIS_KEY_PREFIX (shared Redis is safe)."""
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(p) for p in parts)])


def run_script(script: Any, args: list[Any]) -> Any:
    """EVALSHA of a registered script (no KEYS) on a pooled connection, without redis-py's
    per-command wrapper.

    Why (bench/, issue 7): redis-py's command path (retry wrapper, observability hooks, closures)
    is about half of the client's CPU for one script call — ~10 µs of a heartbeat's ~80 µs in
    process. Anything unusual (the script not loaded yet, a broken connection) goes through the
    normal `script(args=...)` call, with redis-py's own reload and retry; a timeout or a script's
    own error (ResponseError) is raised as it is.
    """
    pool = script.registered_client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("EVALSHA", script.sha, 0, *args)
        return conn.read_response()
    except redis.exceptions.NoScriptError:
        pass
    except redis.ConnectionError:
        conn.disconnect()  # e.g. a pooled connection Redis closed when it restarted: retried below
    except BaseException:
        conn.disconnect()  # a timeout (a hung Redis) is final: a retry would only double the wait
        raise
    finally:
        pool.release(conn)
    return script(args=args)
