"""`POST /webhooks/{id}/redeliver`: new deliveries of events a webhook was already sent (API.md)."""

import uuid

from django.conf import settings
from django.db import connection, transaction

from apps.webhooks.delivery import send_due
from apps.webhooks.models import Webhook

# One new row per event (the next `redelivery` round), pending and due now, retried for a full window from now.
# ON CONFLICT: an event whose delivery is still pending is left alone (webhook_delivery_one_pending_per_event).
_REDELIVER = """
INSERT INTO webhook_delivery (
    webhook_id, event_position, event_id, event_type, event_recorded_at, order_key, redelivery,
    status, next_attempt_at, attempts, give_up_at, created_at
)
SELECT webhook_id, event_position, event_id, event_type, event_recorded_at, order_key, max(redelivery) + 1,
       'pending', statement_timestamp(), 0,
       statement_timestamp() + make_interval(secs => %(window)s), statement_timestamp()
FROM webhook_delivery
WHERE webhook_id = %(webhook_id)s
  AND (%(after)s::bigint IS NULL OR event_position > %(after)s)
  AND (%(event_id)s::uuid IS NULL OR event_id = %(event_id)s)
GROUP BY webhook_id, event_position, event_id, event_type, event_recorded_at, order_key
ORDER BY event_position
ON CONFLICT DO NOTHING
"""


def redeliver(webhook: Webhook, *, after_position: int | None = None, event_id: uuid.UUID | None = None) -> int:
    """Queue the webhook's events after `after_position` (or the one `event_id`) again. Returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _REDELIVER,
            {
                "webhook_id": webhook.pk,
                "after": after_position,
                "event_id": event_id,
                "window": settings.WEBHOOK_RETRY_WINDOW_SECONDS,
            },
        )
        queued = cursor.rowcount
    if queued:
        send_due(webhook_id=webhook.pk)
    return queued
