"""The process's Redis clients: one for short commands (counters, publishes, readiness), one whose settings the
pub/sub listener of `Prefer: wait` connects with. The cache and the Celery broker keep connections of their own.

Each is made once per process, under a lock, and owns a pool that nothing closes: a web process serves requests
from many threads, and a client made twice by two first requests racing, then garbage-collected, would close every
connection of its pool, those other threads are reading from included.
"""

import threading

import redis
from django.conf import settings

# A short command answers in milliseconds; past this Redis is treated as away (callers fail open or poll). A
# subscriber's wait for a message is bounded by its own read timeout (PubSub.get_message), not by this one.
SOCKET_TIMEOUT_SECONDS = 2

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """Short commands: rate limits and wait slots, metrics, announcements, readiness."""
    return _client("commands")


def pubsub_client() -> redis.Redis:
    """Subscriptions: the settings of the process's one subscriber connection (apps/commands/listener.py)."""
    return _client("pubsub")


def _client(purpose: str) -> redis.Redis:
    client = _clients.get(purpose)
    if client is None:
        with _lock:
            client = _clients.get(purpose)
            if client is None:
                pool = redis.ConnectionPool.from_url(
                    settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=SOCKET_TIMEOUT_SECONDS
                )
                client = _clients[purpose] = redis.Redis(connection_pool=pool)
    return client


def forget_clients() -> None:
    """Drop the clients (tests: a process that has not made them yet). Only when no thread is using them."""
    with _lock:
        for client in _clients.values():
            client.connection_pool.disconnect()
        _clients.clear()
