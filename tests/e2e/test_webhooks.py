"""Webhooks end to end: commands through HTTP, a real worker applying them, beat sweeping, a real worker on the
`webhooks` queue delivering to a real HTTP receiver on loopback that verifies every signature."""

import time
from collections import defaultdict

import pytest
import redis

from tests.support.builders import assigned_tickets
from tests.support.processes import Beat, Worker, process_env, running, wait_until
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Short retries, so a test sees several; a lost task message is re-sent after 5 s.
DELIVERY_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "1,2",
    "WEBHOOK_RESEND_AFTER_SECONDS": "5",
}


@pytest.fixture
def deliveries_running(worker, settings):
    """A worker on the webhooks queue and beat, for the test; loopback receivers allowed (the live server runs in
    this process, the worker in its own)."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_QUEUE_WEBHOOKS)  # other tests' beats' sweeps
    env = process_env(**DELIVERY_ENV)
    webhooks_worker = Worker(
        f"e2e-webhooks-{settings.RUN_ID}", env=env, queues=[settings.CELERY_QUEUE_WEBHOOKS], concurrency=4
    )
    with running(webhooks_worker, Beat(f"e2e-webhooks-beat-{settings.RUN_ID}", env=env)):
        webhooks_worker.wait_ready()
        yield webhooks_worker


def feed_end(admin) -> int:
    """The feed's last position now (the webhook about to be made receives what comes after it)."""
    after = 0
    while page := admin.get("/api/v1/events", after=after, limit=1000)["items"]:
        after = page[-1]["position"]
    return after


def register(admin, receiver: Receiver, **body) -> dict:
    created = admin.http.post("/api/v1/webhooks", json={"url": receiver.url, **body})
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    return created.json()


def feed_after(admin, position: int) -> list[dict]:
    return admin.get("/api/v1/events", after=position, limit=1000)["items"]


def wait_all_accepted(receiver: Receiver, expected: list[dict], timeout: float) -> None:
    ids = {event["id"] for event in expected}
    wait_until(
        lambda: ids <= {event["id"] for event in receiver.unique_accepted()},
        what=f"{len(ids)} events accepted by the receiver",
        timeout=timeout,
        interval=0.2,
    )


def test_a_ticket_life_reaches_the_webhook_once_each_in_order_as_the_feed_has_it(
    deliveries_running, clients, people, receiver
):
    admin, tech, qc = clients["admin"], clients["tech"], clients["qc"]
    start = feed_end(admin)
    register(admin, receiver)
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    for client, command in [
        (tech, "ticket.start"),
        (tech, "work_session.pause"),
        (tech, "work_session.resume"),
        (tech, "work_session.stop"),
        (tech, "ticket.to_waiting_qc"),
        (qc, "ticket.qc_pass"),
    ]:
        assert client.run({"type": command, "ticket_id": ticket_id})["status"] == "succeeded"

    feed = feed_after(admin, start)
    wait_all_accepted(receiver, feed, timeout=30)
    time.sleep(1.5)  # a duplicate would arrive by now

    received = receiver.received()
    assert [d.event for d in received] == feed  # once each, in the feed's order, byte for byte the feed's events
    life = [event["type"] for event in feed if event["ticket_id"] == ticket_id]
    assert [t for t in life if t != "xp.awarded"] == [
        "ticket.created",
        "ticket.review_approved",
        "ticket.assigned",
        "ticket.started",
        "work_session.started",
        "work_session.paused",
        "work_session.resumed",
        "work_session.stopped",
        "ticket.to_waiting_qc",
        "ticket.qc_pass",
    ]
    assert life[-1] == "xp.awarded"
    assert all(d.verified_by == receiver.secrets for d in received)
    assert all(d.webhook_id == d.event["id"] for d in received)


def test_a_receiver_failing_for_a_while_gets_everything_afterwards_in_order(
    deliveries_running, clients, people, receiver
):
    admin = clients["admin"]
    receiver.status = 500
    start = feed_end(admin)
    hook = register(admin, receiver, event_types=["ticket.*"])
    assigned_tickets(3, admin=people["admin"], master=people["master"])
    expected = feed_after(admin, start)
    wait_until(lambda: len(receiver.received()) >= 6, what="failed attempts to pile up", timeout=30)
    receiver.status = 200

    wait_all_accepted(receiver, expected, timeout=60)

    listed = admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", limit=200)["items"]
    assert {d["status"] for d in listed} == {"delivered"} and len(listed) == len(expected) == 9
    retried = [d for d in listed if len(d["attempts"]) > 1]
    assert retried, listed
    for delivery in retried:
        statuses = [a["response_status"] for a in delivery["attempts"]]
        assert statuses[-1] == 200 and set(statuses[:-1]) == {500}, statuses
        assert [a["number"] for a in delivery["attempts"]] == list(range(1, len(statuses) + 1))
    positions = defaultdict(list)
    for event in receiver.unique_accepted():
        positions[event["ticket_id"]].append(event["position"])
    assert all(p == sorted(p) for p in positions.values()), positions
    assert all(d.verified_by == receiver.secrets for d in receiver.received())
