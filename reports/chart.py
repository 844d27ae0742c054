"""The viewers-over-time chart of a broadcast, drawn on the server with the live dashboard's
geometry and CSS classes (stats/static/stats/dashboard.js, dashboard.css), so both charts look
alike; a finished show needs no script, and the page is the same without JavaScript."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 26


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    grid: list[dict[str, float]] = field(default_factory=list)  # {y, value}
    x_labels: list[dict[str, object]] = field(default_factory=list)  # {x, text, anchor}
    points: str = ""
    area: str = ""
    latest: dict[str, float] | None = None
    x0: float = LEFT
    x1: float = WIDTH - RIGHT


def grid_step(highest: int) -> int:
    """A whole-number step (1, 2, 5 × 10^k) so that four steps cover the highest count."""
    raw = max(highest, 1) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if step * magnitude >= raw:
            return max(1, int(step * magnitude))
    return int(10 * magnitude)  # pragma: no cover - 10 always covers


def draw(samples: list[tuple[datetime, int]], start: datetime, end: datetime) -> Chart:
    chart = Chart()
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = HEIGHT - BOTTOM, TOP
    span = max((end - start).total_seconds(), 1.0)
    step = grid_step(max((v for _, v in samples), default=0))
    top = step * 4

    def x(at: datetime) -> float:
        return x0 + (x1 - x0) * min(max((at - start).total_seconds() / span, 0.0), 1.0)

    def y(value: int) -> float:
        return y0 - (y0 - y1) * (value / top)

    chart.grid = [{"y": round(y(step * i), 1), "value": step * i} for i in range(5)]
    middle = start + (end - start) / 2
    chart.x_labels = [
        {"x": x0, "text": f"{start:%H:%M}", "anchor": "start"},
        {"x": round(x(middle), 1), "text": f"{middle:%H:%M}", "anchor": "middle"},
        {"x": x1, "text": f"{end:%H:%M}", "anchor": "end"},
    ]
    coords = [(round(x(at), 1), round(y(v), 1)) for at, v in samples]
    chart.points = " ".join(f"{cx},{cy}" for cx, cy in coords)
    if coords:
        chart.area = (
            f"M{coords[0][0]},{y0} L" + " L".join(f"{cx},{cy}" for cx, cy in coords) + f" L{coords[-1][0]},{y0} Z"
        )
        chart.latest = {"cx": coords[-1][0], "cy": coords[-1][1]}
    return chart
