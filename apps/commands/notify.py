"""Tells long-polling requests (`Prefer: wait`) that a command finished or events were recorded, over Redis pub/sub."""

import logging

from apps.common.redis_batch import publish

logger = logging.getLogger("ticketflow.commands")


# One channel for every event: a waiting feed reader re-reads its page, with its own filters, on each message.
EVENTS_CHANNEL = "ticketflow:events-recorded"


# Every web process listens on all commands' channels at once (one pattern subscription, apps/commands/listener.py):
# a waiting request then costs Redis no SUBSCRIBE and UNSUBSCRIBE of its own.
COMMAND_CHANNEL_PREFIX = "ticketflow:command-finished:"


def channel(command_id) -> str:
    return f"{COMMAND_CHANNEL_PREFIX}{command_id}"


def announce_finished(command_id) -> None:
    # Waiters re-read the database after a timeout anyway, so a lost announcement only costs latency. Inside
    # `redis_batch.sent_together` (a worker applying a command) it leaves with the block's other writes.
    publish(channel(command_id))


def announce_events() -> None:
    """After a transaction that recorded events commits (a lost message only costs a waiting reader latency)."""
    publish(EVENTS_CHANNEL)
