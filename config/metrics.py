"""`/metrics`: the shared counters (apps.common.metrics) and gauges read from PostgreSQL at scrape time."""

import logging
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily

from apps.commands.models import Command
from apps.common.metrics import SharedCountersCollector
from apps.common.time import utc_now
from apps.ticket.models import WorkSession
from apps.webhooks.selectors import oldest_undelivered_event_age

logger = logging.getLogger("ticketflow.metrics")


class DatabaseGaugesCollector:
    def collect(self):
        try:
            yield from self._gauges()
        except Exception:  # a scrape must answer even while the database is away
            logger.warning("metrics: database unavailable at scrape", exc_info=True)

    def _gauges(self):
        now = utc_now()
        pending = Command.objects.pending()
        oldest = pending.order_by("submitted_at").values_list("submitted_at", flat=True).first()
        yield GaugeMetricFamily("ticketflow_commands_pending", "Commands accepted and not applied yet", pending.count())
        yield GaugeMetricFamily(
            "ticketflow_oldest_pending_command_age_seconds",
            "Age of the oldest pending command (0 when none)",
            (now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "ticketflow_paused_sessions", "Work sessions paused now", WorkSession.domain.paused().count()
        )
        yield oldest_undelivered_event_age(now)
        yield GaugeMetricFamily(
            "ticketflow_due_auto_resumes",
            "Paused sessions whose pause budget ran out over a second ago and are not resumed yet",
            WorkSession.domain.paused_due(now - timedelta(seconds=1)).count(),
        )


_registry = CollectorRegistry(auto_describe=False)
_registry.register(SharedCountersCollector())
_registry.register(DatabaseGaugesCollector())


def render_metrics() -> tuple[bytes, str]:
    return generate_latest(_registry), CONTENT_TYPE_LATEST
