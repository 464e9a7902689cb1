"""`Prefer: wait=N`: hold a request until its command is final, or N seconds pass.

The waiter subscribes to the command's Redis channel before re-reading the row, so a finish that lands between
the two is never missed; a lost announcement costs at most the wait, after which the row is read again.
"""

import re
import time

import redis

from apps.commands.models import Command
from apps.commands.notify import channel
from apps.common.redis_client import redis_client

MAX_WAIT_SECONDS = 30
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d{1,6})\"?", re.IGNORECASE)


def requested_wait(prefer_header: str | None) -> int | None:
    """Seconds asked for in a `Prefer` header (RFC 7240), capped at 30; None when there is no valid request."""
    if not prefer_header:
        return None
    match = _PREFER_WAIT.search(prefer_header)
    return min(int(match.group(1)), MAX_WAIT_SECONDS) if match else None


def wait_until_final(command: Command, *, seconds: float) -> Command:
    if command.is_final or seconds <= 0:
        return command
    deadline = time.monotonic() + seconds
    pubsub = None
    try:
        pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel(command.id))
        command.refresh_from_db()
        while not command.is_final:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Wake on the announcement, or once a second regardless, and read the row again.
            pubsub.get_message(timeout=min(remaining, 1.0))
            command.refresh_from_db()
    except redis.RedisError:
        # Without pub/sub, poll the row: slower, still correct.
        while not command.is_final and time.monotonic() < deadline:
            time.sleep(0.05)
            command.refresh_from_db()
    finally:
        if pubsub is not None:
            pubsub.close()
    return command
