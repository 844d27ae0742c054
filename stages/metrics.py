"""Domain metrics for stages and the autoscaler (Prometheus).

Stage gauges are read from the registry at scrape time (a custom collector), so every web process
reports the same truth whichever process made the change; scale events are counters in the
worker that acted (aggregated across processes in multiprocess mode).
"""

from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SCALE_EVENTS = Counter("ivs_autoscale_events_total", "Autoscaler actions", ["action"])


class StageCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from stages.models import Stage

        stages = GaugeMetricFamily("ivs_stages", "Stages in the registry", labels=["role", "status"])
        for row in Stage.objects.values("role", "status").annotate(n=Count("id")).order_by():
            stages.add_metric([row["role"], row["status"]], row["n"])
        yield stages
        live = Stage.objects.exclude(status=Stage.Status.DELETED)
        yield GaugeMetricFamily(
            "ivs_stages_relay_needed",
            "Overflow stages that need a media-server relay for the host",
            value=live.filter(relay_needed=True).count(),
        )
        yield GaugeMetricFamily(
            "ivs_stages_host_replicated",
            "Overflow stages receiving the host by replication",
            value=live.exclude(replicated_participant_id="").count(),
        )
