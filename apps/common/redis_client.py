"""The process's one Redis client (pub/sub announcements, shared metrics, readiness). The cache and the Celery
broker keep connections of their own."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    # The read timeout outlasts the longest `Prefer: wait` (30 s), whose pub/sub read shares this client's pool.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=35)
