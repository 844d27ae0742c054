"""Stage gauges for Prometheus, read from the registry at scrape time (a custom collector), so
every web process reports the same truth whichever process made the change."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stages.models import Stage


class StageCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
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
