"""Two workers never send one ordering key at once: while one attempt is in flight (its transaction holds the
delivery's row and its key's lock), another worker given the same delivery, or the next one of its key, sends
nothing; a delivery of another key goes at once. Real threads, each on its own database connection."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.webhooks.delivery import attempt
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.signing import new_secret
from tests.integration.test_events_horizon import open_writer
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = (
    "INSERT INTO event (id, type, occurred_at, ticket_id, data) "
    "VALUES (gen_random_uuid(), 'ticket.created', now(), %s, '{}') RETURNING position"
)


def record(ticket_id: int) -> None:
    with open_writer() as writer:
        writer.execute(INSERT, [ticket_id])
        writer.commit()


def in_thread(function, *args):
    try:
        return function(*args)
    finally:
        connection.close()


def test_a_key_in_flight_is_sent_by_no_other_worker(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver(delay=1.5).start()
    try:
        Webhook.objects.create(url=receiver.url, event_types=["*"], secret=new_secret())
        for ticket_id in (1, 1, 2):
            record(ticket_id)
        dispatch_all()
        first, second, other = WebhookDelivery.objects.order_by("event_position")

        with ThreadPoolExecutor(4) as pool:
            slow = pool.submit(in_thread, attempt, first.pk)
            while receiver.in_flight == 0:
                time.sleep(0.01)
            started = time.monotonic()
            same = pool.submit(in_thread, attempt, first.pk).result(timeout=5)
            next_of_key = pool.submit(in_thread, attempt, second.pk).result(timeout=5)
            refused_within = time.monotonic() - started
            other_key = pool.submit(in_thread, attempt, other.pk).result(timeout=5)
            assert slow.result(timeout=10).status == "delivered"
    finally:
        receiver.stop()

    assert (same, next_of_key) == (None, None)
    assert refused_within < 1  # refused at once (SKIP LOCKED, not a wait for the lock)
    assert other_key.status == "delivered"
    assert sorted(d.event["ticket_id"] for d in receiver.received()) == [1, 2]
