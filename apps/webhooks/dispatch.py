"""From the feed to delivery rows: per active webhook, the events after its cursor become pending deliveries.

The dispatcher reads through the feed (apps/events/feed.py), so it never passes an event that is still in flight
and commits late: each webhook's cursor only moves over positions the feed has served, and it moves in the same
transaction that stores the deliveries, so a crash either stores both or neither. The webhook row is locked for
that transaction (SKIP LOCKED): two dispatchers never work one webhook at once.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction

from apps.events.feed import FeedFilter, horizon, matching_types, read_page
from apps.events.models import Event
from apps.webhooks.models import Webhook, WebhookDelivery

DISPATCH_BATCH = 500
EVERY_TYPE = "*"


def types_of(event_types: list[str]) -> tuple[str, ...] | None:
    """The event types a webhook's patterns name (None: every type)."""
    if EVERY_TYPE in event_types:
        return None
    return tuple(sorted({name for pattern in event_types for name in matching_types(pattern)}))


def order_key(ticket_id: int | None, technician_id: int | None) -> str | None:
    """API.md: one ticket's events in order; without a ticket, one technician's; with neither, not ordered."""
    if ticket_id is not None:
        return f"t{ticket_id}"
    if technician_id is not None:
        return f"u{technician_id}"
    return None


def dispatch_all() -> int:
    """Create the deliveries of every active webhook. Returns how many were created."""
    return sum(dispatch(pk) for pk in Webhook.objects.filter(active=True).values_list("pk", flat=True))


def dispatch(webhook_id: int, *, batch: int = DISPATCH_BATCH) -> int:
    created = 0
    while True:
        with transaction.atomic():
            webhook = Webhook.objects.select_for_update(skip_locked=True).filter(pk=webhook_id, active=True).first()
            if webhook is None:
                return created  # inactive, gone, or another dispatcher has it
            served_up_to = horizon()
            page = read_page(after=webhook.cursor, limit=batch, where=FeedFilter(types=types_of(webhook.event_types)))
            WebhookDelivery.objects.bulk_create([_delivery(webhook, event) for event in page], ignore_conflicts=True)
            last = page[-1].position if page else 0
            # A full page may stop short of the horizon; a short one holds every match up to the horizon read_page
            # used, which is at least the one read above.
            cursor = last if len(page) == batch else max(served_up_to, last)
            if cursor > webhook.cursor:
                Webhook.objects.filter(pk=webhook.pk).update(cursor=cursor)
        created += len(page)
        if len(page) < batch:
            return created


def _delivery(webhook: Webhook, event: Event) -> WebhookDelivery:
    return WebhookDelivery(
        webhook=webhook,
        event_position=event.position,
        event_id=event.id,
        event_type=event.type,
        event_recorded_at=event.recorded_at,
        order_key=order_key(event.ticket_id, event.technician_id),
        next_attempt_at=event.recorded_at,  # due at once
        give_up_at=event.recorded_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS),
    )
