"""Live stats. Cost is independent of the number of viewers: counts come from presence in one
Redis round trip (ZCARD per stage), stage metadata from the registry (stages/registry.py: this
process's copy, checked against the registry generation per request)."""

from __future__ import annotations

from ivsproject.api.envelope import iso
from ivsproject.redis import get_redis, key
from stages.selectors import live_stages_counted


def publisher_live_key() -> str:
    return key("publisher-live")


def is_publisher_live() -> bool:
    return get_redis().get(publisher_live_key()) == "1"


def stats_overview() -> dict:
    stages, counts, (publisher_live,) = live_stages_counted(publisher_live_key())
    rows = [
        {
            "stageArn": s.arn,
            "stageName": s.name,
            "viewerCount": counts[s.arn],
            "autoScaled": s.auto_scaled,
            "createdAt": iso(s.created_at),
        }
        for s in stages
    ]
    return {
        # The same counts as the rows, so totalViewers always equals their sum.
        "totalViewers": sum(r["viewerCount"] for r in rows),
        "activeStages": len(rows),
        "isPublisherLive": publisher_live == "1",
        "stages": rows,
    }


def total_viewers() -> int:
    return sum(live_stages_counted()[1].values())
