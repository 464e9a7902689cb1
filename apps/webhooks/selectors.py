"""Reads of webhook state for /metrics."""

from datetime import datetime

from django.db.models import Min, Q
from prometheus_client.core import GaugeMetricFamily

from apps.webhooks.models import DeliveryStatus, Webhook


def oldest_undelivered_event_age(now: datetime) -> GaugeMetricFamily:
    """Per active webhook: how long ago the oldest event it has not received yet was recorded (0 when none)."""
    gauge = GaugeMetricFamily(
        "ticketflow_webhook_oldest_undelivered_event_age_seconds",
        "Per active webhook, the age of the oldest event whose delivery is still pending (0 when none)",
        labels=["webhook_id"],
    )
    rows = Webhook.objects.filter(active=True).annotate(
        oldest=Min("deliveries__event_recorded_at", filter=Q(deliveries__status=DeliveryStatus.PENDING))
    )
    for webhook_id, oldest in rows.values_list("pk", "oldest"):
        gauge.add_metric([str(webhook_id)], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return gauge
