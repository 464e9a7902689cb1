"""Dispatch on commit (apps/webhooks/kick.py): a transaction that records events sends the dispatch task as it
commits, so a real worker on the `webhooks` queue delivers at once. No beat runs here: without the kick nothing would
ever be delivered. Events are recorded in this process, so it is this process's kick whose tasks are counted."""

import statistics
import time

import pytest
import redis
from django.core.cache import cache
from django.db import transaction

from apps.common import time as clock
from apps.common.tasks import TaskName
from apps.events.models import EventType
from apps.events.recording import NewEvent, record_event
from apps.webhooks import kick
from tests.support.processes import Worker, process_env, running, wait_until
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webhooks_worker(settings):
    """A worker on the webhooks queue only, and no beat: every delivery here follows a kick."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_QUEUE_WEBHOOKS)  # other tests' sweeps
    # and the flags of a dispatcher other tests queued (deleted with the queue just now), which would hold kicks
    # back until they expire
    cache.delete_many([kick.DISPATCHER_FLAG, kick.PENDING_FLAG])
    worker = Worker(
        f"e2e-kick-{settings.RUN_ID}",
        env=process_env(WEBHOOK_ALLOW_PRIVATE_TARGETS="1"),
        queues=[settings.CELERY_QUEUE_WEBHOOKS],
        concurrency=2,
    )
    with running(worker):
        worker.wait_ready()
        yield worker


def register(admin, receiver: Receiver) -> dict:
    created = admin.http.post("/api/v1/webhooks", json={"url": receiver.url})
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    return created.json()


def commit_one_event() -> tuple[str, float]:
    """Record one event in a transaction of its own; returns its id and the instant just before the commit."""
    with transaction.atomic():
        event = record_event(NewEvent(type=EventType.RULES_CHANGED, occurred_at=clock.utc_now(), data={}))
        committing = time.monotonic()
    return str(event.id), committing


def arrival(receiver: Receiver, event_id: str, timeout: float) -> float:
    return wait_until(
        lambda: next((d.received_at for d in receiver.received() if d.webhook_id == event_id), None),
        what=f"event {event_id} delivered",
        timeout=timeout,
        interval=0.01,
    )


def test_an_event_is_delivered_well_under_a_second_after_its_commit(webhooks_worker, clients, receiver, published):
    register(clients["admin"], receiver)
    latencies = []
    for _ in range(8):
        event_id, committing = commit_one_event()
        latencies.append(arrival(receiver, event_id, timeout=10) - committing)
        # Past the dispatcher's wait for its next pass: the next commit finds it gone and publishes a new one
        # (one committing sooner is taken by the waiting dispatcher: tests/integration/test_webhook_dispatcher.py).
        time.sleep(kick.PASS_INTERVAL_SECONDS * 4)

    assert statistics.median(latencies) < 0.5, latencies
    assert max(latencies) < 1.0, latencies
    assert published.count(TaskName.DISPATCH_WEBHOOKS) == 8  # one per commit: each found the last one started
    assert all(d.verified_by == receiver.secrets for d in receiver.received())


def test_a_burst_of_commits_sends_few_dispatches_and_every_event_is_delivered(
    webhooks_worker, clients, receiver, published
):
    register(clients["admin"], receiver)
    ids = [commit_one_event()[0] for _ in range(40)]

    wait_until(
        lambda: set(ids) <= {d.webhook_id for d in receiver.received()},
        what="every event of the burst delivered",
        timeout=20,
    )
    dispatches = published.count(TaskName.DISPATCH_WEBHOOKS)
    assert 1 <= dispatches < 40, dispatches  # a commit while one is queued sends none; no event is passed over


def test_no_dispatch_is_sent_while_no_webhook_is_active(webhooks_worker, clients, receiver, published):
    webhook = register(clients["admin"], receiver)
    changed = clients["admin"].http.patch(f"/api/v1/webhooks/{webhook['id']}", json={"active": False})
    assert changed.status_code == 200, changed.text

    for _ in range(5):
        commit_one_event()
    time.sleep(0.5)

    assert published.count(TaskName.DISPATCH_WEBHOOKS) == 0
    assert receiver.received() == []
