"""Live stats. Cost is independent of the number of viewers: counts come from presence in one
Redis round trip (ZCARD per stage), stage metadata from the registry (stages/registry.py: this
process's copy, checked against the registry generation per request)."""

from __future__ import annotations

from ivsproject.api.envelope import iso
from stages import hostlive
from stages.selectors import live_stages_counted


def is_publisher_live() -> bool:
    return hostlive.is_live()


def stats_overview() -> dict:
    stages, counts, (publisher_live,) = live_stages_counted(hostlive.live_key())
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
        "isPublisherLive": hostlive.is_live(publisher_live),
        "stages": rows,
    }


def total_viewers() -> int:
    return sum(live_stages_counted()[1].values())
