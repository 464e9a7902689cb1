"""Webhooks for the delivery tests: a webhook aimed at a test receiver, and events recorded per ticket (their
deliveries dispatched)."""

from django.db import transaction

from apps.common.time import utc_now
from apps.events.models import EventType
from apps.events.recording import NewEvent, record_events
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.models import Webhook
from apps.webhooks.signing import new_secret
from tests.support.receiver import Receiver


def webhook_for(receiver: Receiver) -> Webhook:
    """An active webhook for every event type, aimed at `receiver`, which is told its secret."""
    hook = Webhook.objects.create(url=receiver.url, event_types=["*"], secret=new_secret())
    receiver.secrets.append(hook.secret)
    return hook


def record_ticket_events(*ticket_ids: int) -> None:
    """One event per ticket id given (its `data.n` its place), in that order, in one transaction; then their
    deliveries."""
    now = utc_now()
    with transaction.atomic():
        record_events(
            [
                NewEvent(type=EventType.TICKET_MANUAL_METRICS_SET, occurred_at=now, data={"n": n}, ticket_id=ticket)
                for n, ticket in enumerate(ticket_ids)
            ]
        )
    dispatch_all()
