"""Tells long-polling requests (`Prefer: wait`) that a command finished, over Redis pub/sub."""

import logging
from contextlib import suppress

import redis

from apps.common.redis_client import redis_client

logger = logging.getLogger("ticketflow.commands")


def channel(command_id) -> str:
    return f"ticketflow:command-finished:{command_id}"


def announce_finished(command_id) -> None:
    # Waiters re-read the database after a timeout anyway, so a lost announcement only costs latency.
    with suppress(redis.RedisError):
        redis_client().publish(channel(command_id), b"1")
