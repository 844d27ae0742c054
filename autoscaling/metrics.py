"""Autoscaler actions as Prometheus counters, in the worker that acted (aggregated across
processes in multiprocess mode)."""

from prometheus_client import Counter

SCALE_EVENTS = Counter("ivs_autoscale_events_total", "Autoscaler actions", ["action"])
