"""A task's claimed deliveries go out in rounds (apps/webhooks/delivery.py `_attempt_round`): one transaction holds
them all, POSTs them in position order, and records every attempt in one statement. What that must keep: each
attempt's start is when its own POST began, on PostgreSQL's clock; an attempt that breaks keeps the ones before it
and hands the rest on; a 410 ends the round; and a delivery held by another transaction never leaves its key locked
by this one. Real receivers on loopback, real connections."""

import json
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.webhooks import delivery
from apps.webhooks.delivery import claim_due_heads, deliver_claimed
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, Webhook, WebhookDelivery
from tests.integration.test_events_horizon import open_writer
from tests.support.webhooks import record_ticket_events, webhook_for

# Commits for real: the round's locks are looked at from other connections.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback_receivers_allowed")]


@pytest.fixture
def handed_on(monkeypatch):
    """The deliveries a round hands on to tasks of their own (instead of publishing them)."""
    ids: list[int] = []
    monkeypatch.setattr(delivery, "send_each", ids.extend)
    return ids


def claimed_heads() -> list[int]:
    with transaction.atomic():
        return [head.delivery_id for head in claim_due_heads()]


def test_a_share_of_heads_is_one_locked_read_and_one_write(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -2, -3, -4, -5)
    share = claimed_heads()

    with CaptureQueriesContext(connection) as seen:
        outcomes = deliver_claimed(share)

    assert [o.status for o in outcomes] == ["delivered"] * 5
    statements = [q["sql"] for q in seen.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    # The round's locked read and its write, then the read that finds none of the five keys has a next head: two
    # transactions (a transaction and two statements per attempt before rounds).
    assert len(statements) == 3, statements
    assert [q["sql"] for q in seen.captured_queries].count("COMMIT") == 2
    assert sum("INSERT INTO webhook_delivery_attempt" in sql for sql in statements) == 1
    assert sorted(d.event["ticket_id"] for d in receiver.received()) == [-5, -4, -3, -2, -1]
    assert DeliveryAttempt.objects.count() == 5


def test_each_attempt_starts_when_its_own_post_began_on_postgresql_s_clock(receiver):
    receiver.delay = 0.15
    webhook_for(receiver)
    record_ticket_events(-1, -2, -3)

    deliver_claimed(claimed_heads())

    starts = list(DeliveryAttempt.objects.order_by("delivery__event_position").values_list("started_at", flat=True))
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert all(gap >= timedelta(seconds=0.15) for gap in gaps), gaps  # not the round's start, three times
    recorded_at = WebhookDelivery.objects.order_by("event_position").first().event_recorded_at
    assert starts[0] >= recorded_at


def test_an_attempt_that_breaks_keeps_the_attempts_before_it_and_hands_the_rest_on(receiver, handed_on, monkeypatch):
    webhook_for(receiver)
    record_ticket_events(-1, -2, -3, -4)
    share = claimed_heads()
    post = delivery.outbound.post
    calls = []

    def breaks_the_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in the sender")
        return post(*args, **kwargs)

    monkeypatch.setattr(delivery.outbound, "post", breaks_the_second_time)
    with pytest.raises(RuntimeError):
        deliver_claimed(share)

    first, broken, *rest = share
    assert WebhookDelivery.objects.get(pk=first).status == DeliveryStatus.DELIVERED  # committed, not rolled back
    assert WebhookDelivery.objects.get(pk=broken).attempts == 0  # waits, claimed, for the sweep's resend window
    assert handed_on == rest


def test_a_410_ends_the_round_and_the_webhook_gets_nothing_more(receiver, handed_on):
    receiver.status = 410
    hook = webhook_for(receiver)
    record_ticket_events(-1, -2, -3)

    outcomes = deliver_claimed(claimed_heads())

    assert [o.status for o in outcomes] == ["failed"]
    assert len(receiver.received()) == 1
    assert not Webhook.objects.get(pk=hook.pk).active
    assert handed_on == []  # an inactive webhook's deliveries go nowhere
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


def test_a_delivery_held_by_another_transaction_leaves_its_key_unlocked(receiver, monkeypatch):
    hook = webhook_for(receiver)
    record_ticket_events(-1, -2)
    held_elsewhere, sent_here = claimed_heads()
    key_free_during_the_round = []
    post = delivery.outbound.post

    def post_and_look(*args, **kwargs):
        # Asked from a third connection while the round's transaction is open.
        with open_writer() as looker:
            (free,) = looker.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"webhook:{hook.pk}:t-1"]
            ).fetchone()
            key_free_during_the_round.append(free)
            looker.rollback()
        return post(*args, **kwargs)

    monkeypatch.setattr(delivery.outbound, "post", post_and_look)
    with open_writer() as other:
        other.execute("SELECT 1 FROM webhook_delivery WHERE id = %s FOR UPDATE", [held_elsewhere])
        outcomes = deliver_claimed([held_elsewhere, sent_here])
        other.rollback()

    assert [o.order_key for o in outcomes] == ["t-2"]
    assert key_free_during_the_round == [True]


def test_claims_take_turns_so_a_later_claim_leaves_the_heads_it_did_not_take_unlocked(receiver):
    """A claim that ran beside another used to lock, and skip, the heads the other had just claimed (a FOR UPDATE
    re-check that fails keeps its lock): the task sent for them found them held and sent nothing. Now the second
    claim waits for the first to commit, and its snapshot sees them claimed."""
    webhook_for(receiver)
    record_ticket_events(-1)
    second = open_writer()
    try:
        with transaction.atomic():
            (claimed,) = [head.delivery_id for head in claim_due_heads()]
            second.execute("SET lock_timeout = '200ms'")
            with pytest.raises(Exception, match="lock timeout"):
                second.execute(delivery._CLAIMS_TAKE_TURNS)  # waits for the first claimer's commit
            second.rollback()

        second.execute(delivery._CLAIMS_TAKE_TURNS)
        params = {"resend_after": 30, "webhook_id": None, "order_key": None, "limit": 500}
        assert second.execute(delivery._CLAIM_DUE_HEADS, params).fetchall() == []  # claimed already: not taken
        outcomes = deliver_claimed([claimed])  # while the second claimer's transaction is still open
        second.rollback()
    finally:
        second.close()

    assert [o.status for o in outcomes] == ["delivered"]


def test_an_answer_with_a_nul_byte_is_recorded_with_the_rest_of_its_round(receiver):
    receiver.reply = b"ok\x00then binary"
    webhook_for(receiver)
    record_ticket_events(-1, -2)

    outcomes = deliver_claimed(claimed_heads())

    assert [o.status for o in outcomes] == ["delivered", "delivered"]
    assert list(DeliveryAttempt.objects.values_list("response_excerpt", flat=True)) == ["ok\ufffdthen binary"] * 2


def test_a_key_s_run_goes_in_the_round_of_its_head_in_position_order(receiver):
    webhook_for(receiver)
    record_ticket_events(-1, -1, -2, -1, -2)
    share = claimed_heads()  # the first of each ticket's

    with CaptureQueriesContext(connection) as seen:
        outcomes = deliver_claimed(share)

    assert [o.status for o in outcomes] == ["delivered"] * 5
    statements = [q["sql"] for q in seen.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert len(statements) == 3, statements  # one round for all five, then the read that finds no next head
    sent = [(d.event["ticket_id"], d.event["data"]["n"]) for d in receiver.received()]
    assert [n for ticket, n in sent if ticket == -1] == [0, 1, 3]
    assert [n for ticket, n in sent if ticket == -2] == [2, 4]


def test_a_run_stops_at_an_attempt_that_leaves_its_delivery_pending(receiver, monkeypatch):
    webhook_for(receiver)
    record_ticket_events(-1, -1, -1, -2, -2)
    post = delivery.outbound.post

    def second_of_ticket_1_fails(target, *, body, headers, **kwargs):
        event = json.loads(body)
        if event["ticket_id"] == -1 and event["data"]["n"] == 1:
            return delivery.outbound.Answer(500, b"", None, 1)
        return post(target, body=body, headers=headers, **kwargs)

    monkeypatch.setattr(delivery.outbound, "post", second_of_ticket_1_fails)
    deliver_claimed(claimed_heads())

    first, second, third = WebhookDelivery.objects.filter(order_key="t-1").order_by("event_position")
    assert (first.status, second.status, third.status) == ("delivered", "pending", "pending")
    assert (second.attempts, third.attempts) == (1, 0)  # the third waits behind the retry, untried
    assert set(WebhookDelivery.objects.filter(order_key="t-2").values_list("status", flat=True)) == {"delivered"}


def test_a_round_checks_each_webhook_s_target_once(receiver, monkeypatch):
    webhook_for(receiver)
    record_ticket_events(-1, -2, -3)
    looked_up: list[str] = []
    real_resolve = delivery.resolve

    def counting_resolve(url):
        looked_up.append(url)
        return real_resolve(url)

    monkeypatch.setattr(delivery, "resolve", counting_resolve)

    outcomes = deliver_claimed(claimed_heads())

    assert [o.status for o in outcomes] == ["delivered"] * 3
    assert looked_up == [receiver.url]  # once for the round's three attempts, not once each


def test_a_target_refused_at_a_round_s_check_refuses_each_of_its_attempts(receiver, settings):
    webhook_for(receiver)
    record_ticket_events(-1, -2)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # as if the name now resolved to loopback

    outcomes = deliver_claimed(claimed_heads())

    assert [o.status for o in outcomes] == ["pending", "pending"]  # each retried later, none sent
    errors = list(DeliveryAttempt.objects.values_list("error", flat=True))
    assert len(errors) == 2 and all("refused" in error and "loopback" in error for error in errors)
    assert receiver.received() == []
