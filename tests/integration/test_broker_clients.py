"""The broker's transport (apps/common/broker.py) is kombu's Redis transport keeping one redis-py client per channel:
publishing tasks, with their `task-sent` events, builds a client per channel, not two per publish; the messages
arrive as kombu's own transport delivers them. Against the real Redis, on a queue of the test's own."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from kombu import Connection

from apps.common.broker import Transport
from apps.common.redis_client import redis_client
from config.celery import app

PUBLISHES = 200


@pytest.fixture
def queue():
    name = f"test-broker-clients-{uuid.uuid4().hex}"
    yield name
    redis_client().delete(name)


def publish(queue: str, n: int) -> None:
    app.send_task("ticketflow.test.never_run", args=[n], queue=queue)


def test_publishing_builds_a_client_per_channel_not_per_publish(queue, redis_client_builds):
    assert app.conf.broker_transport == settings.CELERY_BROKER_TRANSPORT == "apps.common.broker:Transport"
    publish(queue, -1)  # the producer pool's first channel
    redis_client_builds.clear()

    with ThreadPoolExecutor(4) as pool:  # threads publish through channels of the producer pool, as web threads do
        list(pool.map(lambda n: publish(queue, n), range(PUBLISHES)))

    assert len(redis_client_builds) <= 8  # kombu's own transport: two per publish (the LPUSH, the task-sent PUBLISH)
    bodies = [json.loads(message)["body"] for message in redis_client().lrange(queue, 0, -1)]
    assert len(bodies) == PUBLISHES + 1


def test_kombus_own_transport_builds_one_per_command(queue, redis_client_builds):
    """What the kept client saves, on the same broker: the check above would fail with kombu's transport."""
    with Connection(settings.CELERY_BROKER_URL) as connection, connection.channel() as channel:
        redis_client_builds.clear()
        for n in range(20):
            channel._put(queue, {"n": n})

    assert len(redis_client_builds) == 20
    assert redis_client().llen(queue) == 20


def test_a_channel_whose_pool_was_replaced_builds_a_new_client(queue):
    with Connection(settings.CELERY_BROKER_URL, transport=Transport) as connection, connection.channel() as channel:
        channel._put(queue, {"n": 1})
        first = channel._create_client()
        channel._pool = None  # as kombu does after a connection error
        channel._put(queue, {"n": 2})

        assert channel._create_client() is not first
        assert channel._create_client() is channel._create_client()
    assert redis_client().llen(queue) == 2
