"""The Celery baseline's no-op task: the broker-and-pool ceiling that applying commands is compared with.

The harness loads it into the command worker itself (`-I bench.noop`, its queue added to `-Q`), so both run in the
same processes with the same concurrency and settings (acks_late, prefetch, events, logging); the only difference
from `process_lane` is the work inside the task.
"""

from functools import cache

import redis
from celery import shared_task
from django.conf import settings

NOOP_TASK = "bench.noop"


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name=NOOP_TASK, ignore_result=True)
def noop(counter_key: str) -> None:
    """Does nothing but count itself (one Redis INCR), so the harness can tell when the last one ran."""
    _redis().incr(counter_key)
