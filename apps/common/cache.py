"""Django's Redis cache, keeping one redis-py client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation, and each one copies
redis-py's table of response callbacks (some 170 entries). The write path does a cache operation or two per command
(its lane's queued flag, the sweep's nudges), so that copying was about 2% of a command's Python CPU (issue 17). A
`redis.Redis` is safe to share (each command borrows a connection from the pool); Django keeps the pool, in the
cache object it gives each thread, and now the client beside it.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _KeptClients(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:  # two threads may both build one: either serves
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class KeptClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, with its clients kept."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _KeptClients
