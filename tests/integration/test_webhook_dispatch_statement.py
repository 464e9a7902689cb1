"""The dispatch pass (apps/webhooks/dispatch.py): every active webhook's new events become deliveries in one
statement written by PostgreSQL. Pages that fill up go on in the next transaction, each webhook gets only the
types it asked for and moves its cursor over the rest, the ordering keys and due times are the events' own, and a
webhook another dispatcher holds is left to it."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction

from apps.common.time import utc_now
from apps.events.feed import horizon
from apps.events.models import EventType
from apps.events.recording import NewEvent, record_events
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from apps.webhooks.signing import new_secret

pytestmark = pytest.mark.django_db(transaction=True)


def webhook(*event_types: str) -> Webhook:
    hook = Webhook.objects.create(url="https://93.184.215.14/", event_types=list(event_types), secret=new_secret())
    Webhook.objects.filter(pk=hook.pk).update(cursor=horizon())
    return hook


def record(*events: tuple[str, int | None, int | None]) -> list[int]:
    """Events of (type, ticket, technician), one transaction; their positions."""
    with transaction.atomic():
        recorded = record_events(
            [NewEvent(type=kind, occurred_at=utc_now(), data={}, ticket_id=t, technician_id=u) for kind, t, u in events]
        )
    return [event.position for event in recorded]


def positions(hook: Webhook) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(webhook=hook).order_by("event_position").values_list("event_position", flat=True)
    )


def test_full_pages_go_on_until_every_event_is_dispatched():
    hook = webhook("*")
    recorded = record(*[(EventType.TICKET_CREATED, -1, None)] * 7)

    created = dispatch_all(batch=3)

    assert created == 7
    assert positions(hook) == recorded
    assert Webhook.objects.get(pk=hook.pk).cursor >= recorded[-1]
    assert dispatch_all(batch=3) == 0  # nothing twice


def test_each_webhook_gets_its_types_and_its_cursor_passes_the_rest():
    sessions, everything = webhook("work_session.*"), webhook("*")
    created, started, paused = record(
        (EventType.TICKET_CREATED, -1, None),
        (EventType.WORK_SESSION_STARTED, -1, 5),
        (EventType.WORK_SESSION_PAUSED, -1, 5),
    )
    tail = record(*[(EventType.TICKET_CREATED, -2, None)] * 4)  # nothing for `sessions`: its page is never full

    assert dispatch_all(batch=2) == 2 + 7
    assert positions(sessions) == [started, paused]
    assert positions(everything) == [created, started, paused, *tail]
    assert Webhook.objects.get(pk=sessions.pk).cursor >= tail[-1]  # past the types it does not want


def test_deliveries_carry_their_events_key_and_are_due_at_once():
    hook = webhook("*")
    on_ticket, on_technician, on_neither = record(
        (EventType.WORK_SESSION_STARTED, -3, 7), (EventType.XP_AWARDED, None, 7), (EventType.RULES_CHANGED, None, None)
    )

    dispatch_all()

    rows = {d.event_position: d for d in WebhookDelivery.objects.filter(webhook=hook)}
    assert (rows[on_ticket].order_key, rows[on_technician].order_key, rows[on_neither].order_key) == ("t-3", "u7", None)
    for delivery in rows.values():
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0 and delivery.redelivery == 0
        assert delivery.next_attempt_at == delivery.event_recorded_at
        assert delivery.give_up_at == delivery.event_recorded_at + timedelta(hours=24)


def test_a_webhook_another_dispatcher_holds_is_left_to_it():
    held, free = webhook("*"), webhook("*")
    (position,) = record((EventType.TICKET_CREATED, -4, None))
    other = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    try:
        other.execute("SELECT 1 FROM webhook WHERE id = %s FOR UPDATE", [held.pk])
        assert dispatch_all() == 1
        assert (positions(held), positions(free)) == ([], [position])
    finally:
        other.rollback()
        other.close()
    assert dispatch_all() == 1
    assert positions(held) == [position]


def test_an_inactive_webhook_gets_nothing():
    hook = webhook("*")
    Webhook.objects.filter(pk=hook.pk).update(active=False)
    record((EventType.TICKET_CREATED, -5, None))

    assert dispatch_all() == 0
    assert positions(hook) == []
