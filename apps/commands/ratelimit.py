"""Per-token rate limit on command submission: a fixed one-minute window counted in Redis."""

import logging
import time

import redis
from django.conf import settings

from apps.common.problems import Problem
from apps.common.redis_client import redis_client

logger = logging.getLogger("ticketflow.api")


def enforce_rate_limit(token_key: str) -> None:
    """Raise a 429 problem with Retry-After when this token has used up its minute. Fails open if Redis is away."""
    limit = settings.COMMAND_RATE_LIMIT_PER_MINUTE
    if limit <= 0 or not token_key:
        return
    now = time.time()
    window = int(now // 60)
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'ticketflow')}:ratelimit:{token_key}:{window}"
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
