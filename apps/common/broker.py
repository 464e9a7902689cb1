"""The Celery broker's transport: kombu's Redis transport, keeping one redis-py client per channel.

kombu builds a new `redis.Redis` for each command it sends outside its consumer's poll: a task's publish builds two
(the message's LPUSH and its `task-sent` event's PUBLISH), and every task event a worker sends builds one. Each
build copies redis-py's ~170 response callbacks: a fifth of a publish's CPU in a profile of 500 publishes. A
channel here keeps the client it built for as long as the channel's connection pool lasts (kombu makes a new pool
after a connection error; a client kept for an old pool is dropped). The client itself holds no connection: it
takes one from the pool for each command, as kombu's own clients do, so sharing it changes nothing else.

The consumer's asynchronous client, built once per poll cycle by kombu, is left as kombu builds it.
"""

from kombu.transport import redis as kombu_redis


class KeptClientChannel(kombu_redis.Channel):
    _kept_client: tuple | None = None  # (the pool it was built on, the client)

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        kept = self._kept_client
        if kept is None or kept[0] is not pool:
            kept = self._kept_client = (pool, super()._create_client())
        return kept[1]


class Transport(kombu_redis.Transport):
    Channel = KeptClientChannel
