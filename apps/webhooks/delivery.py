"""Delivering: which deliveries may go now, and one attempt at one of them.

Order (API.md): to one webhook, the deliveries that share an ordering key (apps/webhooks/dispatch.py) go out one at
a time, in position order. Two things enforce it:
- only the *head* of a key is ever picked: a pending delivery with no earlier pending one of its key (a delivery
  waiting for its retry is pending, so the later ones wait behind it until it is delivered or failed);
- an attempt runs inside a transaction that holds the delivery's row lock and a transaction-level advisory lock on
  its key, so two workers can never send the same key at once, and a worker killed mid-attempt releases both by
  rolling back (the delivery stays pending and due: it is simply tried again). The price: an attempt holds a
  database connection for up to the 10 s an answer may take (the worker's concurrency bounds how many).

Retries are data: a failed attempt sets `next_attempt_at`; beat's sweep sends a task for every due head. A task
message is only a hint: lost, duplicated or early, the row decides.
"""

import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from apps.common import time as clock
from apps.common.metrics import record_webhook_attempt
from apps.common.tasks import TaskName, on_commit, send_task_rollback_unsafe
from apps.events.models import Event
from apps.events.representations import event_data
from apps.webhooks import outbound
from apps.webhooks.models import RESPONSE_EXCERPT_BYTES, DeliveryAttempt, DeliveryStatus, Webhook, WebhookDelivery
from apps.webhooks.signing import signature_header, signing_secrets
from apps.webhooks.targets import RefusedTarget, resolve

logger = logging.getLogger("ticketflow.webhooks")

SEND_BATCH = 500
# The outcome an attempt is counted under in /metrics: the delivery's status after it.
_METRIC_OUTCOMES = {"delivered": "delivered", "failed": "failed", "pending": "retrying"}
USER_AGENT = "ticketflow-webhooks/1"

_NO_EARLIER_PENDING = """
    (d.order_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM webhook_delivery e
        WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key AND e.status = 'pending'
          AND (e.event_position, e.id) < (d.event_position, d.id)))
"""

_DUE_HEADS = f"""
SELECT d.id FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
WHERE w.active AND d.status = 'pending' AND d.next_attempt_at <= statement_timestamp()
  AND (d.enqueued_at IS NULL OR d.enqueued_at < statement_timestamp() - make_interval(secs => %(resend_after)s))
  AND (%(webhook_id)s::bigint IS NULL OR d.webhook_id = %(webhook_id)s)
  AND (%(order_key)s::text IS NULL OR d.order_key = %(order_key)s)
  AND {_NO_EARLIER_PENDING}
ORDER BY d.next_attempt_at, d.id
LIMIT %(limit)s
FOR UPDATE OF d SKIP LOCKED
"""

_IS_HEAD = f"SELECT {_NO_EARLIER_PENDING} FROM webhook_delivery d WHERE d.id = %s"


def send_due(*, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH) -> int:
    """Send a delivery task for each due head (of one webhook, or one key, when given) not sent lately."""
    with transaction.atomic():
        ids = claim_due_heads(webhook_id=webhook_id, order_key=order_key, limit=limit)
        if ids:
            on_commit(lambda: _send(ids))
    return len(ids)


def claim_due_heads(*, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH):
    """The due heads whose task was not sent lately, marked as sent now (in the caller's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _DUE_HEADS,
            {
                "resend_after": settings.WEBHOOK_RESEND_AFTER_SECONDS,
                "webhook_id": webhook_id,
                "order_key": order_key,
                "limit": limit,
            },
        )
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        WebhookDelivery.objects.filter(pk__in=ids).update(enqueued_at=Now())
    return ids


def _send(ids: list[int]) -> None:
    for delivery_id in ids:
        send_task_rollback_unsafe(TaskName.DELIVER_WEBHOOK, args=[delivery_id], queue=settings.CELERY_QUEUE_WEBHOOKS)


@dataclass(frozen=True)
class Outcome:
    status: str  # the delivery's status after the attempt
    attempt: DeliveryAttempt


def attempt(delivery_id: int) -> Outcome | None:
    """Try the delivery once, if it is pending, due, the head of its key, its webhook active and no other worker
    has it or its key. Returns None when it was not tried."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=Now(), webhook__active=True)
            .first()
        )
        if delivery is None or not _is_head(delivery) or not _lock_key(delivery):
            return None
        outcome = _try_once(delivery)
    record_webhook_attempt(_METRIC_OUTCOMES[outcome.status], outcome.attempt.duration_ms / 1000)
    if outcome.status != DeliveryStatus.PENDING and delivery.order_key is not None:
        send_due(webhook_id=delivery.webhook_id, order_key=delivery.order_key)  # the next of its key, at once
    return outcome


def _is_head(delivery: WebhookDelivery) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_IS_HEAD, [delivery.pk])
        return cursor.fetchone()[0]


def _lock_key(delivery: WebhookDelivery) -> bool:
    key = f"webhook:{delivery.webhook_id}:{delivery.order_key or f'd{delivery.pk}'}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [key])
        return cursor.fetchone()[0]


def _try_once(delivery: WebhookDelivery) -> Outcome:
    webhook = delivery.webhook
    started_at = clock.database_now()
    event = Event.objects.filter(position=delivery.event_position).first()
    if event is None:
        answer = outbound.Answer(None, b"", "the event is no longer kept (EVENT_RETENTION_DAYS)", 0)
    else:
        body = json.dumps(event_data(event), separators=(",", ":"))
        try:
            target = resolve(webhook.url)
        except RefusedTarget as refused:
            answer = outbound.Answer(None, b"", f"target refused: {refused}", 0)
        else:
            answer = outbound.post(target, body=body.encode(), headers=_headers(webhook, event, body))
    number = delivery.attempts + 1
    row = DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=answer.duration_ms,
        response_status=answer.status,
        error=answer.error,
        response_excerpt=answer.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace"),
    )
    status = _next_status(delivery, answer, event_kept=event is not None, finished_at=started_at)
    logger.info(
        "webhook attempt",
        extra={
            "webhook_id": webhook.pk,
            "delivery_id": delivery.pk,
            "event_id": str(delivery.event_id),
            "attempt": number,
            "response_status": answer.status,
            "error": answer.error,
            "duration_ms": answer.duration_ms,
            "outcome": status,
        },
    )
    return Outcome(status, row)


def _headers(webhook, event: Event, body: str) -> dict[str, str]:
    now = clock.utc_now()
    signature = signature_header(
        signing_secrets(webhook, at=now), message_id=str(event.id), timestamp=now.replace(microsecond=0), body=body
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": str(event.id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _next_status(delivery: WebhookDelivery, answer: outbound.Answer, *, event_kept: bool, finished_at) -> str:
    """Write the delivery's state after an attempt: 2xx delivered; 410 failed (and the webhook deactivated);
    anything else retried per WEBHOOK_RETRY_SCHEDULE until give_up_at, then failed."""
    changes: dict = {"attempts": delivery.attempts + 1, "enqueued_at": None}
    if answer.status is not None and 200 <= answer.status < 300:
        changes.update(status=DeliveryStatus.DELIVERED, next_attempt_at=None, finished_at=finished_at)
    elif answer.status == 410 or not event_kept:
        changes.update(status=DeliveryStatus.FAILED, next_attempt_at=None, finished_at=finished_at)
        if answer.status == 410:
            Webhook.objects.filter(pk=delivery.webhook_id).update(active=False)
            logger.warning("webhook deactivated: its receiver answered 410", extra={"webhook_id": delivery.webhook_id})
    else:
        retry_at = finished_at + retry_delay(delivery.attempts + 1)
        if retry_at > delivery.give_up_at:
            changes.update(status=DeliveryStatus.FAILED, next_attempt_at=None, finished_at=finished_at)
        else:
            changes.update(next_attempt_at=retry_at)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return changes.get("status", DeliveryStatus.PENDING)


def retry_delay(failed_attempts: int) -> timedelta:
    """After the n-th failed attempt: the n-th delay of the schedule (its last one repeating), plus 0..20 %."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    seconds = schedule[min(failed_attempts, len(schedule)) - 1]
    return timedelta(seconds=seconds * (1 + random.uniform(0, 0.2)))
