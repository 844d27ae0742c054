"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (production, several worker processes)
the exposition aggregates every process (prometheus-client multiprocess mode)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("ivs_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "ivs_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# Any client can send any method token (`PROBE1234`); each would become a label value, i.e. new
# series in every scrape for as long as the process lives. Methods outside this set count as `other`.
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # Folded before the cached lookup, so the cache stays as bounded as the labels.
    request_observer(method_label(method), route, status)(seconds)


@functools.cache
def request_observer(method: str, route: str, status: int) -> Callable[[float], None]:
    """`observe_request` with the labelled series looked up once: `.labels()` costs more than the
    increments (bench.profile). Bounded like the labels themselves: routes are patterns, methods
    a known set."""
    method = method_label(method)
    count = REQUESTS.labels(method, route, str(status)).inc
    observe = LATENCY.labels(method, route).observe

    def observer(seconds: float) -> None:
        count()
        observe(seconds)

    return observer


# Collectors that read shared state at scrape time (e.g. stage gauges from the database); apps
# add theirs in AppConfig.ready().
SCRAPE_TIME_COLLECTORS: list = []


def metrics_view(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    extra = CollectorRegistry()
    for collector in SCRAPE_TIME_COLLECTORS:
        extra.register(collector)
    payload = generate_latest(registry) + generate_latest(extra)
    return HttpResponse(payload, content_type=CONTENT_TYPE_LATEST)
