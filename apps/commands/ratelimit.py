"""Per-token limits, counted in Redis so they hold across web processes: commands a minute (a fixed one-minute
window), and requests waiting at once with `Prefer: wait` (a lease per waiting request)."""

import logging
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from django.conf import settings

from apps.common.problems import Problem
from apps.common.redis_client import redis_client

logger = logging.getLogger("ticketflow.api")

# A waiting request's lease outlives its wait by this much; it is released as the wait ends, and only a process
# killed mid-wait leaves it to expire.
WAIT_LEASE_GRACE_SECONDS = 5

# Under one key per token, a sorted set of leases scored by when each expires (Redis's clock, so every web host
# agrees). Expired leases are dropped first; a new one is taken only below the cap. Answers {1} when taken, else
# {0, seconds until the earliest lease expires}.
_TAKE_WAIT_LEASE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    local earliest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, tostring(tonumber(earliest[2]) - now)}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
if redis.call('TTL', KEYS[1]) < lease then
    redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
end
return {1}
"""


def _key(*parts: object) -> str:
    return ":".join([settings.CACHES["default"].get("KEY_PREFIX", "ticketflow"), *map(str, parts)])


def enforce_rate_limit(token_key: str) -> None:
    """Raise a 429 problem with Retry-After when this token has used up its minute. Fails open if Redis is away."""
    limit = settings.COMMAND_RATE_LIMIT_PER_MINUTE
    if limit <= 0 or not token_key:
        return
    now = time.time()
    window = int(now // 60)
    key = _key("ratelimit", token_key, window)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        used, _ = pipe.execute()
    except redis.RedisError:
        logger.warning("rate limiter unavailable; letting the request through")
        return
    if used > limit:
        retry_after = max(1, int((window + 1) * 60 - now) + 1)
        raise Problem(
            429,
            "rate_limited",
            f"more than {limit} commands a minute from this token; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


@contextmanager
def wait_lease(token_key: str, *, seconds: float) -> Iterator[None]:
    """Hold one of the token's COMMAND_MAX_WAITS_PER_TOKEN waiting requests for the block.

    Over the cap: a 429 problem whose Retry-After is when the token's earliest wait ends. Fails open if Redis is
    away. The lease is released when the block ends, and expires by itself shortly after `seconds` regardless.
    """
    cap = settings.COMMAND_MAX_WAITS_PER_TOKEN
    if cap <= 0 or not token_key:
        yield
        return
    key, lease = _key("waits", token_key), uuid.uuid4().hex
    client = redis_client()
    try:
        taken = client.register_script(_TAKE_WAIT_LEASE)(
            keys=[key], args=[cap, lease, seconds + WAIT_LEASE_GRACE_SECONDS]
        )
    except redis.RedisError:
        logger.warning("wait limiter unavailable; letting the request wait")
        taken = None
    if taken is not None and not int(taken[0]):
        ends_in = float(taken[1]) - WAIT_LEASE_GRACE_SECONDS
        retry_after = max(1, math.ceil(ends_in))
        raise Problem(
            429,
            "rate_limited",
            f"this token already has {cap} requests waiting (Prefer: wait); retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    try:
        yield
    finally:
        if taken is not None:
            with suppress(redis.RedisError):
                client.zrem(key, lease)
