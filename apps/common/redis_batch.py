"""Best-effort Redis writes a block sends at its end, in one round trip: the announcements (PUBLISH) and the metric
increments a unit of work makes after its commit.

A command's application used to pay three round trips after its commit (its own announcement, the events'
announcement, the metrics pipeline), each about 0.1 ms of CPU between client and server; a webhook task making a
hundred attempts, a metrics pipeline each. Inside `sent_together()` they wait in this process and leave together
when the block ends, increments to one hash field added up, publishes first (a waiting request is woken by them).
Outside a block, each goes at once, as before.

Only for writes whose loss costs latency or a count, never correctness: nothing here is retried, and a Redis error
is swallowed (callers that must know, such as the webhook dispatcher's flags, talk to Redis themselves).
"""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

import redis

from apps.common.redis_client import redis_client


class Batch:
    """Publishes in order, and increments added up per (key, field): one pipeline at the end."""

    def __init__(self):
        self._publishes: list[tuple[str, bytes]] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._sums: dict[tuple[str, str], float] = {}

    def publish(self, channel: str, message: bytes) -> None:
        self._publishes.append((channel, message))

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self._counts[key, field] = self._counts.get((key, field), 0) + amount

    def hincrbyfloat(self, key: str, field: str, amount: float) -> None:
        self._sums[key, field] = self._sums.get((key, field), 0.0) + amount

    def send(self) -> None:
        if not (self._publishes or self._counts or self._sums):
            return
        pipe = redis_client().pipeline(transaction=False)
        for channel, message in self._publishes:
            pipe.publish(channel, message)
        for (key, field), amount in self._counts.items():
            pipe.hincrby(key, field, amount)
        for (key, field), amount in self._sums.items():
            pipe.hincrbyfloat(key, field, amount)
        pipe.execute()


# The batch of the innermost open `sent_together` block.
_open: ContextVar[Batch | None] = ContextVar("redis_sent_together", default=None)


@contextmanager
def sent_together() -> Iterator[None]:
    """What is published or counted inside goes to Redis at the block's end, in one round trip; also when the block
    raises, since what it queued has happened (a commit, say, that a failure after it does not undo). Never raises
    for Redis. A block inside another one sends with the outer one."""
    if _open.get() is not None:
        yield
        return
    batch = Batch()
    token = _open.set(batch)
    try:
        yield
    finally:
        _open.reset(token)
        with suppress(redis.RedisError):
            batch.send()


def publish(channel: str, message: bytes = b"1") -> None:
    """PUBLISH, with the open block's batch or at once. Never raises for Redis."""
    batch = _open.get()
    if batch is not None:
        batch.publish(channel, message)
        return
    with suppress(redis.RedisError):
        redis_client().publish(channel, message)


@contextmanager
def adding() -> Iterator["Batch | redis.client.Pipeline"]:
    """Where to add increments (`hincrby`, `hincrbyfloat`): the open block's batch, or a pipeline sent at the end of
    this `with`. Never raises for Redis."""
    batch = _open.get()
    if batch is not None:
        yield batch
        return
    pipe = redis_client().pipeline(transaction=False)  # no round trip until execute()
    yield pipe
    with suppress(redis.RedisError):
        pipe.execute()
