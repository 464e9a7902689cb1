from apps.common.time import isoformat_utc
from apps.webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery


def webhook_data(webhook: Webhook) -> dict:
    """A webhook as the API shows it: never its secret (only creation and rotation answer with that)."""
    return {
        "id": webhook.pk,
        "url": webhook.url,
        "event_types": webhook.event_types,
        "description": webhook.description,
        "active": webhook.active,
        "created_at": isoformat_utc(webhook.created_at),
    }


def delivery_data(delivery: WebhookDelivery) -> dict:
    return {
        "event_id": str(delivery.event_id),
        "event_position": delivery.event_position,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "next_attempt_at": isoformat_utc(delivery.next_attempt_at),
        "attempts": [attempt_data(row) for row in sorted(delivery.attempt_rows.all(), key=lambda row: row.number)],
    }


def attempt_data(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "started_at": isoformat_utc(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "response_status": attempt.response_status,
        "error": attempt.error,
    }
