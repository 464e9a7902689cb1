"""Webhook deliveries survive a receiver that is down, SIGKILLed delivery workers and a flushed Redis: afterwards
every event reached the receiver at least once, a receiver deduplicating on `webhook-id` holds each exactly once,
each ticket's events arrived in position order, and the invariant checker is clean.

The stack is real (gunicorn, a command worker, beat, a private Redis and PostgreSQL); the deliveries run on a worker
of their own on the `webhooks` queue, the one the test kills.
"""

import time
from collections import defaultdict

import pytest
from django.conf import settings

from tests.support.lives import PAUSE_LIFE
from tests.support.load import Load
from tests.support.logs import write_figures
from tests.support.outcomes import Timer, finish_pause_life
from tests.support.processes import Worker, wait_until
from tests.support.receiver import Receiver

# Loopback receivers allowed; short retries; a task message lost with Redis is re-sent after 3 s.
DELIVERY_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,2",
    "WEBHOOK_RESEND_AFTER_SECONDS": "3",
}


def all_events_after(client, position: int) -> list[dict]:
    events = []
    while page := _ok(client.get("/api/v1/events", params={"after": position, "limit": 1000}))["items"]:
        events += page
        position = page[-1]["position"]
    return events


def _ok(response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def run_webhook_faults(make_stack, *, name: str, tickets: int, kills: int, settle_timeout: float, drain_timeout):
    timer = Timer()
    receiver = Receiver().start()
    receiver.stop()  # its port is known, and closed: the receiver is down while the tickets are driven
    stack = make_stack(name)
    stack.env.update(DELIVERY_ENV)
    stack.start(seed_tickets=tickets)
    deliverer = Worker(
        f"{stack.tag}-webhooks",
        env=stack.env,
        queues=[settings.CELERY_QUEUE_WEBHOOKS],
        concurrency=4,
        broker_url=stack.redis.url,
    ).start()
    try:
        admin = stack.client(stack.seeded["admin_token"])
        start = all_events_after(admin, 0)[-1]["position"]
        hook = _ok(admin.post("/api/v1/webhooks", json={"url": receiver.url, "description": name}))
        receiver.secrets.append(hook["secret"])
        timer.mark("ready")

        load = Load(stack.web.url, stack.seeded["tickets"], PAUSE_LIFE, name=name, rate=25).start()
        try:
            load.wait(timeout=180)
        finally:
            load.stop()
        finish_pause_life(stack, load, name=name, timer=timer, settle_timeout=settle_timeout)
        expected = all_events_after(admin, start)
        assert len(expected) >= tickets * len(PAUSE_LIFE)

        receiver.delay = 0.2  # answers take a while: a kill lands mid-delivery
        receiver.start()
        for kill in range(kills):
            wait_until(lambda: receiver.in_flight > 0, what="a delivery in flight", timeout=60, interval=0.01)
            deliverer.kill()  # SIGKILL to the tree: the attempt's transaction rolls back, its message strands
            timer.mark(f"kill{kill + 1}")
            time.sleep(1.0)
            deliverer.start()
            wait_until(lambda: len(receiver.accepted()) > 0, what="deliveries after the restart", timeout=60)
        stack.redis.flushall()  # queued delivery tasks and beat's sweeps in the queue are gone
        timer.mark("flushall")
        receiver.delay = 0.0

        ids = {event["id"] for event in expected}
        wait_until(
            lambda: ids <= {event["id"] for event in receiver.unique_accepted()},
            what=f"{len(ids)} events accepted by the receiver",
            timeout=drain_timeout,
            interval=0.5,
        )
        timer.mark("delivered")
    finally:
        deliverer.kill()
        receiver.stop()

    accepted = receiver.unique_accepted()
    assert [event["id"] for event in accepted] == list(dict.fromkeys(e["id"] for e in accepted))  # deduplicated
    assert {event["id"] for event in accepted} == ids  # every event, and nothing that is not in the feed
    assert all(delivery.verified_by == receiver.secrets for delivery in receiver.received())
    by_ticket = defaultdict(list)
    for event in accepted:
        if event["ticket_id"] is not None:
            by_ticket[event["ticket_id"]].append(event["position"])
    assert all(positions == sorted(positions) for positions in by_ticket.values()), by_ticket
    listed = _ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "pending"}))
    assert listed["items"] == []
    checks = stack.tool("check")
    assert checks["ok"], checks["violations"]
    received = receiver.received()
    return write_figures(
        f"fault-{name}-deliveries",
        {
            "events": len(ids),
            "requests_received": len(received),
            "answered_2xx": len(receiver.accepted()),
            "duplicates_deduplicated": len(receiver.accepted()) - len(accepted),
            "durations": timer.marks,
        },
    )


def test_webhooks_deliver_everything_once_deduplicated_through_a_down_receiver_a_kill_and_a_flush(fault_stack):
    """Short variant: 20 tickets (100 commands) while the receiver is down, one SIGKILL, one FLUSHALL."""
    run_webhook_faults(fault_stack, name="webhooks-short", tickets=20, kills=1, settle_timeout=60, drain_timeout=120)


@pytest.mark.fault
def test_webhooks_deliver_everything_after_200_tickets_two_kills_and_a_flush(fault_stack):
    """Long variant: 200 tickets (1,000 commands) while the receiver is down, two SIGKILLs, one FLUSHALL."""
    run_webhook_faults(fault_stack, name="webhooks-long", tickets=200, kills=2, settle_timeout=180, drain_timeout=600)
