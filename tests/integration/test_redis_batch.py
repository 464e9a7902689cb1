"""Best-effort Redis writes sent together (apps/common/redis_batch.py): inside a block they leave at its end in one
pipeline, publishes first; outside, at once; a worker applying a command pays one round trip after its commit for
its announcement, its events' announcement and its metrics. Real Redis, a real subscriber."""

import time

import pytest
import redis

from apps.commands.notify import EVENTS_CHANNEL, channel
from apps.commands.processing import drain_lane
from apps.common import metrics, redis_batch
from apps.common.time import utc_now
from tests.support.builders import pending_command


@pytest.fixture
def subscriber(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    yield pubsub
    pubsub.close()
    client.close()


def received(pubsub, count: int, timeout: float = 2.0) -> list[bytes]:
    messages, deadline = [], time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append(message["channel"])
    return messages


def test_inside_a_block_publishes_and_increments_leave_at_its_end_in_one_pipeline(batched_writes, subscriber):
    subscriber.subscribe(channel("a"), channel("b"))
    with redis_batch.sent_together():
        redis_batch.publish(channel("a"))
        metrics.record_command_finished("ticket.start", "succeeded", 0.02)
        redis_batch.publish(channel("b"))
        assert batched_writes == []
        assert received(subscriber, 1, timeout=0.2) == []  # nothing before the end

    assert len(batched_writes) == 1
    stack = batched_writes[0]
    assert stack[:2] == ["PUBLISH", "PUBLISH"]  # publishes first: a waiting request is woken by them
    assert set(stack[2:]) == {"HINCRBY", "HINCRBYFLOAT"}
    assert received(subscriber, 2) == [channel("a").encode(), channel("b").encode()]


def test_a_block_inside_another_sends_with_the_outer_one(batched_writes):
    with redis_batch.sent_together():
        with redis_batch.sent_together():
            redis_batch.publish(channel("a"))
        assert batched_writes == []
        redis_batch.publish(channel("b"))
    assert batched_writes == [["PUBLISH", "PUBLISH"]]


def test_a_block_that_raises_still_sends_what_it_queued(batched_writes):
    with pytest.raises(RuntimeError), redis_batch.sent_together():
        redis_batch.publish(channel("a"))
        raise RuntimeError("after the commit")
    assert batched_writes == [["PUBLISH"]]


def test_outside_a_block_a_publish_goes_at_once(batched_writes, subscriber):
    subscriber.subscribe(channel("c"))
    redis_batch.publish(channel("c"))
    assert batched_writes == [["PUBLISH"]]
    assert received(subscriber, 1) == [channel("c").encode()]


def test_a_redis_that_is_away_costs_the_block_nothing(settings, monkeypatch):
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(redis_batch, "redis_client", lambda: unreachable)
    with redis_batch.sent_together():
        redis_batch.publish(channel("a"))
        metrics.record_command_finished("ticket.start", "succeeded", 0.02)
    redis_batch.publish(channel("b"))  # and outside a block


@pytest.mark.django_db(transaction=True)  # a real commit: its callbacks run
def test_applying_a_command_costs_one_round_trip_after_its_commit(shop, batched_writes, subscriber):
    shop.clock = utc_now
    ticket = shop.assigned()
    command = pending_command(shop.technician, "ticket.start", at=shop.tick(), ticket_id=ticket.pk)
    subscriber.subscribe(channel(command.id), EVENTS_CHANNEL)
    batched_writes.clear()

    assert drain_lane(f"ticket:{ticket.pk}") == 1

    assert len(batched_writes) == 1  # the command's announcement, its events' announcement and its metrics
    assert batched_writes[0][:2] == ["PUBLISH", "PUBLISH"]
    assert "HINCRBY" in batched_writes[0]
    assert sorted(received(subscriber, 2)) == sorted([channel(command.id).encode(), EVENTS_CHANNEL.encode()])
