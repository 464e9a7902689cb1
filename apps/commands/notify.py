"""Tells long-polling requests (`Prefer: wait`) that a command finished, over Redis pub/sub."""

import logging
from contextlib import suppress
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger("ticketflow.commands")


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=35)


def channel(command_id) -> str:
    return f"ticketflow:command-finished:{command_id}"


def announce_finished(command_id) -> None:
    # Waiters re-read the database after a timeout anyway, so a lost announcement only costs latency.
    with suppress(redis.RedisError):
        redis_client().publish(channel(command_id), b"1")
