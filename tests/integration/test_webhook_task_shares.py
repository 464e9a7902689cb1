"""Claimed heads go out as one task per webhook, not one per delivery (apps/webhooks/delivery.py `task_shares`):
a task message costs a worker about what an attempt does. The dispatcher sends every share to a task and tries none
itself; a share is at most HEADS_PER_TASK heads; what a task does not reach within its budget gets a task each.
Real Redis (the queue is a list we read) and real receivers on loopback."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import connection, transaction

from apps.common import metrics
from apps.common.tasks import TaskName
from apps.webhooks import delivery
from apps.webhooks.delivery import claim_due_heads, deliver_claimed, task_shares
from apps.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from apps.webhooks.tasks import deliver_webhook, dispatch_webhooks, sweep_webhooks
from tests.support.receiver import Receiver
from tests.support.webhooks import record_ticket_events, webhook_for

# Commits for real: the claims commit before their tasks are published.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback_receivers_allowed")]


@pytest.fixture
def sent(settings):
    """A private webhooks queue (no live worker consumes it); returns the delivery ids of each delivery task sent to
    it (the dispatch a commit of events asks for goes there too, and is left out)."""
    settings.CELERY_QUEUE_WEBHOOKS = f"shares-{uuid.uuid4().hex[:8]}-webhooks"
    client = redis.Redis.from_url(settings.REDIS_URL)

    def messages() -> list[list[int]]:
        raw = client.lrange(settings.CELERY_QUEUE_WEBHOOKS, 0, -1)[::-1]  # kombu pushes on the left
        decoded = [json.loads(message) for message in raw]
        tasks = {message["headers"]["task"] for message in decoded}
        assert tasks <= {TaskName.DELIVER_WEBHOOK, TaskName.DISPATCH_WEBHOOKS}, tasks
        deliveries = [message for message in decoded if message["headers"]["task"] == TaskName.DELIVER_WEBHOOK]
        return [json.loads(base64.b64decode(message["body"]))[0] for message in deliveries]

    yield messages
    client.delete(settings.CELERY_QUEUE_WEBHOOKS)


@pytest.fixture
def receivers():
    servers = [Receiver().start(), Receiver().start()]
    yield servers
    for server in servers:
        server.stop()


def heads_of(hook: Webhook) -> list[int]:
    """The first delivery of each of the webhook's keys, oldest first: the heads a claim finds."""
    firsts = {}
    for row in WebhookDelivery.objects.filter(webhook=hook).order_by("event_position"):
        firsts.setdefault(row.order_key, row.pk)
    return list(firsts.values())


def test_the_sweep_sends_one_task_per_webhook_with_its_heads_in_claim_order(receivers, sent):
    first, second = (webhook_for(receiver) for receiver in receivers)
    record_ticket_events(-1, -2, -3, -1)

    assert sweep_webhooks() == 6  # three keys to each webhook

    assert sorted(sent()) == sorted([heads_of(first), heads_of(second)])
    assert all(receiver.received() == [] for receiver in receivers)  # the sweep only sends


def test_the_dispatcher_sends_every_share_to_a_task_and_tries_none_itself(receivers, sent):
    hooks = [webhook_for(receiver) for receiver in receivers]
    record_ticket_events(-1, -2, -1)
    WebhookDelivery.objects.filter(webhook=hooks[0]).update(attempts=1)  # its heads are retries now due

    assert dispatch_webhooks() == 4

    assert sorted(sent()) == sorted(heads_of(hook) for hook in hooks)
    # One dispatcher serves every webhook: a slow receiver must not hold up the dispatch of the others' deliveries.
    assert all(receiver.received() == [] for receiver in receivers)


def test_a_share_holds_at_most_heads_per_task(receivers, sent, monkeypatch):
    monkeypatch.setattr(delivery, "HEADS_PER_TASK", 2)
    hook = webhook_for(receivers[0])
    record_ticket_events(-1, -2, -3, -4, -5)

    sweep_webhooks()

    heads = heads_of(hook)
    assert sent() == [heads[0:2], heads[2:4], heads[4:5]]


def test_heads_not_reached_within_the_budget_get_a_task_each(receivers, sent):
    webhook_for(receivers[0])
    record_ticket_events(-1, -2, -3)
    with transaction.atomic():
        (share,) = task_shares(claim_due_heads())

    assert deliver_claimed(share, budget_seconds=0) == []

    assert sent() == [[head] for head in share]  # claimed already: sent on, in parallel, untried
    assert receivers[0].received() == []


def test_a_message_with_one_delivery_from_before_the_grouping_still_delivers(receivers):
    hook = webhook_for(receivers[0])
    record_ticket_events(-1, -1)

    assert deliver_webhook(heads_of(hook)[0]) == DeliveryStatus.DELIVERED

    assert [d.event["data"]["n"] for d in receivers[0].received()] == [0, 1]


def test_a_task_s_attempts_reach_the_metrics_in_one_round_trip_at_its_end(receivers, settings, monkeypatch):
    hook = webhook_for(receivers[0])
    record_ticket_events(-1, -2, -3)
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = metrics._key("webhook_attempts")
    before = int(client.hget(key, "delivered") or 0)
    seen_inside = []

    real_post = delivery.outbound.post

    def post_and_look(*args, **kwargs):
        seen_inside.append(int(client.hget(key, "delivered") or 0))
        return real_post(*args, **kwargs)

    monkeypatch.setattr(delivery.outbound, "post", post_and_look)
    with transaction.atomic():
        (share,) = task_shares(claim_due_heads(webhook_id=hook.pk))
    outcomes = deliver_claimed(share)

    assert [o.status for o in outcomes] == ["delivered"] * 3
    assert seen_inside == [before] * 3  # nothing sent while the task ran
    assert int(client.hget(key, "delivered")) == before + 3


def test_a_delivery_that_breaks_sends_the_rest_of_its_share_on_before_the_error_is_raised(receivers, sent, monkeypatch):
    webhook_for(receivers[0])
    record_ticket_events(-1, -2, -3)
    with transaction.atomic():
        (share,) = task_shares(claim_due_heads())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(delivery.outbound, "post", broken)
    with pytest.raises(RuntimeError):
        deliver_claimed(share)

    assert sent() == [[head] for head in share[1:]]  # the first waits, claimed, for the sweep's resend window


def test_a_claim_marks_its_heads_sent_at_the_statement_not_at_its_transaction_s_start(receivers):
    hook = webhook_for(receivers[0])
    record_ticket_events(-1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (began,) = cursor.fetchone()
        cursor.execute("SELECT pg_sleep(0.05)")
        (head,) = claim_due_heads(webhook_id=hook.pk)
    # The resend window is counted from here: a claim late in a long transaction must not shorten it.
    assert WebhookDelivery.objects.get(pk=head.delivery_id).enqueued_at >= began + timedelta(seconds=0.05)
