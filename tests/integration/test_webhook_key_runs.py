"""One delivery task sends its key's run of due deliveries in order (apps/webhooks/delivery.py `deliver_in_order`):
no task and no claim per delivery, and still one attempt in flight per key, in position order. It stops where the
order says it must (a retry scheduled), leaves other keys to their own tasks, and hands a key that outlasts its
budget to a task of its own. A real receiver on loopback; events recorded as `record_events` records them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.time import utc_now
from apps.webhooks.delivery import attempt_head, deliver_in_order
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.support.webhooks import record_ticket_events, webhook_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_receivers_allowed")]


def of_key(order_key: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(order_key=order_key).order_by("event_position"))


def test_one_call_sends_the_key_s_due_deliveries_in_position_order_and_no_other_key(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -2, -1, -1, -2)
    first = of_key("t-1")[0]

    outcomes = deliver_in_order(first.pk)

    assert [o.status for o in outcomes] == ["delivered"] * 3
    sent = [(d.event["ticket_id"], d.event["data"]["n"]) for d in receiver.received()]
    assert sent == [(-1, 0), (-1, 2), (-1, 3)]  # the other ticket's deliveries wait for their own task
    assert {d.status for d in of_key("t-1")} == {DeliveryStatus.DELIVERED}
    assert {d.status for d in of_key("t-2")} == {DeliveryStatus.PENDING}
    assert all(delivery.verified_by == receiver.secrets for delivery in receiver.received())


def test_each_attempt_is_two_statements_in_one_transaction(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -1)
    first = of_key("t-1")[0]

    with CaptureQueriesContext(connection) as seen:
        outcomes = deliver_in_order(first.pk)

    assert len(outcomes) == 2
    statements = [q["sql"] for q in seen.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # Per attempt the locked read and the write; then the read that finds no next head.
    assert len(statements) == 5, statements
    assert sum("FOR UPDATE OF d SKIP LOCKED" in sql for sql in statements) == 3
    assert sum("INSERT INTO webhook_delivery_attempt" in sql for sql in statements) == 2


def test_a_retry_stops_the_run_and_the_later_deliveries_of_the_key_wait(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -1, -1)
    first, second, third = of_key("t-1")
    receiver.status = 500

    outcomes = deliver_in_order(first.pk)

    assert [o.status for o in outcomes] == ["pending"]
    assert len(receiver.received()) == 1
    assert attempt_head(first.webhook_id, "t-1") is None  # the head waits for its retry: nothing goes
    second.refresh_from_db(), third.refresh_from_db()
    assert (second.attempts, third.attempts) == (0, 0)


def test_a_final_failure_moves_the_run_on_to_the_next_delivery(receiver, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 3  # shorter than the first retry delay: a failed attempt fails for good
    webhook_for(receiver)
    record_ticket_events(-1, -1)
    receiver.status = 503

    outcomes = deliver_in_order(of_key("t-1")[0].pk)

    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert [d.event["data"]["n"] for d in receiver.received()] == [0, 1]


def test_a_key_that_outlasts_the_budget_is_handed_to_a_task_of_its_own(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -1, -1)
    first, second, third = of_key("t-1")

    outcomes = deliver_in_order(first.pk, budget_seconds=0)

    assert [o.status for o in outcomes] == ["delivered"]
    second.refresh_from_db(), third.refresh_from_db()
    # The next head is claimed as the sweep claims it (a task is sent on commit); the one after it is not a head.
    assert second.enqueued_at is not None and third.enqueued_at is None
    assert (second.status, third.status) == (DeliveryStatus.PENDING, DeliveryStatus.PENDING)


def test_a_delivery_not_due_or_not_the_head_starts_no_run(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -1)
    first, second = of_key("t-1")

    assert deliver_in_order(second.pk) == []  # not the head
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=utc_now().replace(year=2100))
    assert deliver_in_order(first.pk) == []  # not due
    assert receiver.received() == []
