"""Webhook deliveries in process, to a real HTTP receiver on loopback: what is sent, signed, retried, ordered.

The dispatcher and each attempt run here, one step at a time (`drain`), so each test can look between steps; the
worker and beat that run them in production are exercised by tests/e2e/test_webhooks.py.
"""

from datetime import timedelta

import pytest
import time_machine
from django.db.models.functions import Now

from apps.common.time import utc_now
from apps.events.feed import read_page
from apps.events.models import Event
from apps.ticket import services_workflow as workflow
from apps.webhooks.delivery import attempt, claim_due_heads, retry_delay
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.support.builders import workplace
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/webhooks"


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(loopback_receivers_allowed, settings):
    # Tasks are sent on commit, and these tests never commit: every due head counts as never sent.
    settings.WEBHOOK_RESEND_AFTER_SECONDS = 0


def register(api, admin, receiver: Receiver, **body) -> dict:
    created = api.post(HOOKS, {"url": receiver.url, **body}, admin)
    assert created.status_code == 201, created.content
    receiver.secrets.append(created.json()["secret"])
    return created.json()


def drain(rounds: int = 100) -> int:
    """Dispatch, then attempt every due head, until nothing is due. Returns the attempts made."""
    made = 0
    for _ in range(rounds):
        dispatch_all()
        tried = [outcome for head in claim_due_heads() if (outcome := attempt(head.delivery_id)) is not None]
        if not tried:
            return made
        made += len(tried)
    raise AssertionError("deliveries kept coming")


def new_ticket(shop):
    """A ticket on an item of its own (an item holds one active ticket at a time)."""
    item, parts = workplace()
    return shop.create(item=item, parts=parts)


def make_due(**filters) -> None:
    """Bring the retries forward: a test does not wait out the schedule."""
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, **filters).update(next_attempt_at=Now())


def deliveries(webhook_id: int, api, admin, **params) -> list[dict]:
    answer = api.get(f"{HOOKS}/{webhook_id}/deliveries", admin, data=params)
    assert answer.status_code == 200, answer.content
    return answer.json()["items"]


def test_a_ticket_life_is_delivered_once_each_in_order_signed_and_as_the_feed_serves_it(api, admin, shop, receiver):
    register(api, admin, receiver)
    ticket = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    drain()

    feed = [event for event in read_page(after=0, limit=1000) if event.position > 0]
    sent = [delivery.event for delivery in receiver.received()]
    assert [event["type"] for event in sent if event["ticket_id"] == ticket.pk][:5] == [
        "ticket.created",
        "ticket.review_approved",
        "ticket.assigned",
        "ticket.started",
        "work_session.started",
    ]
    assert "ticket.qc_pass" in [event["type"] for event in sent] and "xp.awarded" in [event["type"] for event in sent]
    # The webhook was registered before the ticket existed: it got exactly the feed, in the feed's order.
    assert [event["id"] for event in sent] == [str(event.id) for event in feed]
    assert [event["position"] for event in sent] == sorted(event["position"] for event in sent)
    assert all(delivery.verified_by == receiver.secrets for delivery in receiver.received())
    assert all(delivery.webhook_id == delivery.event["id"] for delivery in receiver.received())
    assert {d.headers["content-type"] for d in receiver.received()} == {"application/json"}


def test_events_recorded_before_creation_or_of_other_types_are_not_sent(api, admin, shop, receiver):
    earlier = shop.assigned()
    register(api, admin, receiver, event_types=["work_session.*"])
    item, parts = workplace()
    later = shop.started(item=item, parts=parts)

    drain()

    sent = [delivery.event for delivery in receiver.received()]
    assert [(event["type"], event["ticket_id"]) for event in sent] == [("work_session.started", later.ticket.pk)]
    assert earlier.pk != later.ticket.pk


def test_a_failing_receiver_is_retried_per_the_schedule_and_every_attempt_is_listed(api, admin, shop, receiver):
    hook = register(api, admin, receiver, event_types=["ticket.created"])
    new_ticket(shop)
    receiver.status = 500

    before = utc_now()
    drain()

    [pending] = deliveries(hook["id"], api, admin, status="pending")
    [first] = pending["attempts"]
    assert (first["number"], first["response_status"], first["error"]) == (1, 500, None)
    due = WebhookDelivery.objects.get().next_attempt_at
    assert before + timedelta(seconds=5) <= due <= utc_now() + timedelta(seconds=6.01)

    make_due()
    drain()
    receiver.status = 200
    make_due()
    drain()

    [delivered] = deliveries(hook["id"], api, admin, status="delivered")
    assert [a["response_status"] for a in delivered["attempts"]] == [500, 500, 200]
    assert delivered["next_attempt_at"] is None
    assert deliveries(hook["id"], api, admin, status="pending") == []
    assert len(receiver.received()) == 3 and len({d.webhook_id for d in receiver.received()}) == 1


def test_retry_delays_follow_the_schedule_with_up_to_20_percent_jitter_then_repeat_the_last(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 30, 120, 600, 1800, 3600, 7200]

    for failed, base in [(1, 5), (2, 30), (3, 120), (6, 3600), (7, 7200), (8, 7200), (30, 7200)]:
        delays = [retry_delay(failed).total_seconds() for _ in range(200)]
        assert base <= min(delays) and max(delays) <= base * 1.2, (failed, min(delays), max(delays))
        assert max(delays) > base * 1.1  # jittered, not a constant


def test_a_delivery_that_cannot_succeed_before_its_window_ends_fails(api, admin, shop, receiver, settings):
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 3  # shorter than the first retry delay (5 s)
    hook = register(api, admin, receiver, event_types=["ticket.created"])
    new_ticket(shop)
    receiver.status = 503

    drain()

    [failed] = deliveries(hook["id"], api, admin, status="failed")
    assert [a["response_status"] for a in failed["attempts"]] == [503]
    assert failed["next_attempt_at"] is None


def test_410_fails_the_delivery_and_deactivates_the_webhook(api, admin, shop, receiver):
    hook = register(api, admin, receiver, event_types=["ticket.*"])
    receiver.status = 410
    new_ticket(shop)

    drain()

    assert Webhook.objects.get(pk=hook["id"]).active is False
    statuses = sorted(d["status"] for d in deliveries(hook["id"], api, admin))
    assert statuses == ["failed"]
    new_ticket(shop)
    assert drain() == 0
    assert len(receiver.received()) == 1


def test_a_later_event_of_a_ticket_waits_while_an_earlier_one_is_retried(api, admin, shop, receiver):
    register(api, admin, receiver, event_types=["ticket.*"])
    first = new_ticket(shop)
    receiver.status = 500
    drain()  # ticket.created of the first ticket: failed once, retry scheduled
    workflow.approve_ticket_review(ticket_id=first.pk, actor=shop.admin, at=shop.tick())
    other = new_ticket(shop)
    receiver.status = 200

    drain()

    sent = [(d.event["ticket_id"], d.event["type"], d.answered) for d in receiver.received()]
    # The first ticket's approval waits behind its creation; the other ticket is not held up.
    assert sent == [(first.pk, "ticket.created", 500), (other.pk, "ticket.created", 200)]
    approval = WebhookDelivery.objects.get(event_type="ticket.review_approved")
    assert attempt(approval.pk) is None  # not the head of its key: a worker given it sends nothing

    make_due()
    drain()

    sent = [(d.event["ticket_id"], d.event["type"]) for d in receiver.accepted()]
    assert sent[1:] == [(first.pk, "ticket.created"), (first.pk, "ticket.review_approved")]


def test_within_the_overlap_after_rotation_both_signatures_verify_then_the_new_one_only(api, admin, shop, receiver):
    hook = register(api, admin, receiver, event_types=["ticket.created"])
    old = receiver.secrets[0]
    new = api.post(f"{HOOKS}/{hook['id']}/rotate-secret", b"", admin).json()["secret"]
    receiver.secrets.append(new)

    new_ticket(shop)
    drain()
    with time_machine.travel(utc_now() + timedelta(hours=23, minutes=59)):
        new_ticket(shop)
        drain()
    with time_machine.travel(utc_now() + timedelta(hours=24, minutes=1)):
        new_ticket(shop)
        drain()

    signatures = [d.headers["webhook-signature"].split(" ") for d in receiver.received()]
    assert [len(s) for s in signatures] == [2, 2, 1]
    assert [d.verified_by for d in receiver.received()] == [[old, new], [old, new], [new]]


def test_redeliver_sends_the_same_events_again_as_new_deliveries(api, admin, shop, receiver):
    hook = register(api, admin, receiver, event_types=["ticket.*"])
    ticket = shop.approved()
    drain()
    created = Event.objects.get(ticket_id=ticket.pk, type="ticket.created")

    queued = api.post(f"{HOOKS}/{hook['id']}/redeliver", {"after_position": created.position}, admin)
    again = api.post(f"{HOOKS}/{hook['id']}/redeliver", {"event_id": str(created.id)}, admin)
    repeated = api.post(f"{HOOKS}/{hook['id']}/redeliver", {"event_id": str(created.id)}, admin)
    drain()

    assert (queued.status_code, queued.json()) == (202, {"queued": 1})  # the approval
    assert again.json() == {"queued": 1} and repeated.json() == {"queued": 0}  # already pending: not doubled
    ids = [d.webhook_id for d in receiver.received()]
    approval = str(Event.objects.get(ticket_id=ticket.pk, type="ticket.review_approved").id)
    assert sorted(ids) == sorted([str(created.id), approval, approval, str(created.id)])
    listed = deliveries(hook["id"], api, admin, status="delivered")
    assert len(listed) == 4 and {d["event_id"] for d in listed} == {str(created.id), approval}


def test_a_target_that_turned_internal_is_refused_at_the_attempt(api, admin, shop, receiver, settings):
    hook = register(api, admin, receiver, event_types=["ticket.created"])
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # as if the name now resolved to loopback
    new_ticket(shop)

    drain()

    [pending] = deliveries(hook["id"], api, admin, status="pending")
    [refused] = pending["attempts"]
    assert refused["response_status"] is None
    assert "refused" in refused["error"] and "loopback" in refused["error"]
    assert receiver.received() == []


def test_metrics_count_outcomes_time_attempts_and_show_the_oldest_undelivered_age(api, admin, shop, receiver, client):
    hook = register(api, admin, receiver, event_types=["ticket.created"])
    receiver.status = 500
    new_ticket(shop)
    drain()

    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    assert 'ticketflow_webhook_deliveries_total{outcome="retrying"}' in text
    assert "ticketflow_webhook_attempt_duration_seconds_count" in text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith(f'ticketflow_webhook_oldest_undelivered_event_age_seconds{{webhook_id="{hook["id"]}"}}')
    )
    assert float(line.split()[-1]) > 0
