"""The project's Redis client, typed loosely for this package.

The pool is created with decode_responses=True, so every reply is `str`; redis-py's stubs cannot
know that and type replies as `bytes | str`. One `Any` here beats a cast at every call site.
"""

from typing import Any

from ivsproject.redis import get_redis


def redis_client() -> Any:
    return get_redis()
