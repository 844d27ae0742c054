"""Waiting demand: viewers the token path could not seat since the last tick, counted once each.

Scale-up creates as many stages as this demand needs, not one per tick, so a flash crowd is
absorbed in one pass.
"""

from __future__ import annotations

from django.conf import settings

from ivsproject.redis import get_redis, key


def _demand_key() -> str:
    return key("autoscale", "demand")


def demand_record(*user_ids: str) -> None:
    """The token path found no seat for these viewers: remember them for the next tick.
    A set, so a viewer retrying every second counts once."""
    if not user_ids:
        return
    pipe = get_redis().pipeline(transaction=False)
    pipe.sadd(_demand_key(), *user_ids)
    pipe.expire(_demand_key(), max(settings.AUTOSCALE_INTERVAL_SECONDS * 4, 60))
    pipe.execute()


def take_demand(*, dry_run: bool) -> int:
    client = get_redis()
    if dry_run:
        return int(client.scard(_demand_key()))
    pipe = client.pipeline(transaction=True)
    pipe.scard(_demand_key())
    pipe.delete(_demand_key())
    return int(pipe.execute()[0])
