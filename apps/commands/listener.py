"""One Redis pub/sub subscriber per process, shared by every request thread that waits (`Prefer: wait`).

A waiting request registers the channel it waits on and sleeps on an event of its own; the listener thread
subscribes to the channels someone waits on (and unsubscribes from those nobody waits on any more), and sets the
events of a channel's waiters when a message arrives there. One connection and one thread per process, however many
requests wait, where each wait used to open (and close) a subscription connection of its own.

Only the listener thread touches the connection: a waiter asks for a subscription by waking it through a socket
pair, and learns that Redis has made the subscription (`Waiter.subscribed`) from the listener. That confirmation
keeps the waiters' ordering guarantee: once it is set, anything published on the channel reaches the waiter, so a
waiter that reads the database after it misses no finish announced after its read.

Standing patterns: the channels of finished commands (the waits that every `Prefer: wait` submission makes) are
covered by one pattern subscription, made as the connection opens and kept. A waiter on such a channel is
subscribed as soon as it registers, with no SUBSCRIBE, UNSUBSCRIBE or wake-up of the listener of its own (about
0.4 ms of a web process's CPU per wait, and a round trip to Redis before its first read). The process receives
every command's announcement, a few bytes each, and drops those nobody here waits for.

Fork-safe: the listener belongs to the process that made it (gunicorn forks its workers from a master that may have
imported this module); a process that finds one made by another pid makes its own on first use. On a Redis error
the listener reconnects, resubscribes and wakes every waiter (they re-read: a message may have been lost meanwhile).
"""

import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import redis

from apps.commands.notify import COMMAND_CHANNEL_PREFIX
from apps.common.redis_client import pubsub_client

logger = logging.getLogger("ticketflow.commands")

RECONNECT_BACKOFF_SECONDS = 0.5
CLIENT_NAME_PREFIX = "ticketflow-wakeups-"
IDLE_SELECT_SECONDS = 30  # no waiter, no message: look again after this long (nothing to do but check the socket)


@dataclass(eq=False)
class Waiter:
    channel: str
    subscribed: threading.Event = field(default_factory=threading.Event)  # Redis confirmed the subscription
    woken: threading.Event = field(default_factory=threading.Event)  # a message, a reconnect: read again


class Listener:
    def __init__(self, standing_prefixes: tuple[str, ...] = (COMMAND_CHANNEL_PREFIX,)):
        self.pid = os.getpid()
        self.standing_prefixes = standing_prefixes
        self.client_name = f"{CLIENT_NAME_PREFIX}{self.pid}-{id(self):x}"
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        # The listener thread's view of the connection, under the lock: channels it asked Redis for, commands sent
        # per channel whose reply has not come back, and channels whose subscription Redis has confirmed (with no
        # unsubscribe sent since).
        self._asked: set[str] = set()
        self._in_flight: dict[str, int] = {}
        self._live: set[str] = set()
        # The standing patterns: asked for on this connection, and confirmed by Redis.
        self._patterns_asked = False
        self._patterns_live = False
        self.healthy = True  # False while Redis is away: waiters then poll the database often instead
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._thread: threading.Thread | None = None

    @contextmanager
    def waiting(self, channel: str) -> Iterator[Waiter]:
        """Register a waiter on `channel` for the block (its `subscribed` event is set once messages reach it)."""
        waiter = Waiter(channel)
        with self._lock:
            self._waiters.setdefault(channel, set()).add(waiter)
            if self._patterns_live if self._standing(channel) else channel in self._live:
                waiter.subscribed.set()
            self._start_thread()
        if not waiter.subscribed.is_set():
            self._wake()
        try:
            yield waiter
        finally:
            with self._lock:
                waiters = self._waiters.get(channel)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[channel]
            # Unsubscribing can wait for the next wake-up: a channel nobody waits on costs only its messages.

    def _standing(self, channel: str) -> bool:
        return channel.startswith(self.standing_prefixes)

    def _patterns(self) -> list[str]:
        return [f"{prefix}*" for prefix in self.standing_prefixes]

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="redis-wakeups", daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        with suppress(BlockingIOError):  # the buffer is full: the listener is already due to wake
            self._wake_write.send(b"\0")

    # --- the listener thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            connection = None
            try:
                pool = pubsub_client().connection_pool
                # Named, so that `CLIENT LIST` tells the process's one subscriber from its other connections.
                connection = pool.connection_class(**{**pool.connection_kwargs, "client_name": self.client_name})
                connection.connect()
                self.healthy = True
                self._serve(connection)
            except (redis.RedisError, OSError) as error:
                self.healthy = False
                logger.warning("wake-up listener lost Redis, reconnecting", extra={"error": str(error)})
            finally:
                if connection is not None:
                    with suppress(Exception):
                        connection.disconnect()
                self._forget_connection()
            time.sleep(RECONNECT_BACKOFF_SECONDS)  # Redis is likely away: do not hammer it

    def _forget_connection(self) -> None:
        """A new connection subscribes to nothing: forget what the old one had, and wake every waiter."""
        with self._lock:
            self._asked.clear()
            self._in_flight.clear()
            self._live.clear()
            self._patterns_asked = self._patterns_live = False
            for waiters in self._waiters.values():
                for waiter in waiters:
                    waiter.subscribed.clear()
                    waiter.woken.set()

    def _serve(self, connection: redis.Connection) -> None:
        # epoll, not select(): a web process may hold file descriptors numbered past select's 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(connection._sock, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                self._sync_subscriptions(connection)
                # What the parser has buffered first: the socket may have nothing more to say about it.
                while connection.can_read(timeout=0):
                    self._handle(connection.read_response(disconnect_on_error=False, push_request=True))
                selector.select(IDLE_SELECT_SECONDS)
                with suppress(BlockingIOError):
                    while self._wake_read.recv(4096):
                        pass

    def _sync_subscriptions(self, connection: redis.Connection) -> None:
        with self._lock:
            wanted = {channel for channel in self._waiters if not self._standing(channel)}
            subscribe, unsubscribe = wanted - self._asked, self._asked - wanted
            ask_patterns = not self._patterns_asked and bool(self.standing_prefixes)
            self._patterns_asked = True
            for channel in subscribe | unsubscribe:
                self._in_flight[channel] = self._in_flight.get(channel, 0) + 1
            self._asked = wanted
            self._live -= unsubscribe
        # Sent outside the lock (waiters register meanwhile); replies come back in the order the commands went.
        if ask_patterns:
            connection.send_command("PSUBSCRIBE", *self._patterns())
        if subscribe:
            connection.send_command("SUBSCRIBE", *sorted(subscribe))
        if unsubscribe:
            connection.send_command("UNSUBSCRIBE", *sorted(unsubscribe))

    def _handle(self, response) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return
        kind, channel = response[0], response[1].decode()
        with self._lock:
            if kind == b"pmessage":  # [pmessage, pattern, channel, data]
                for waiter in self._waiters.get(response[2].decode(), ()):
                    waiter.woken.set()
            elif kind == b"psubscribe":
                # One confirmation per pattern; with every pattern asked in one command, the last one's says all.
                if channel == self._patterns()[-1]:
                    self._patterns_live = True
                    for waiting_on, waiters in self._waiters.items():
                        if self._standing(waiting_on):
                            for waiter in waiters:
                                waiter.subscribed.set()
            elif kind == b"message":
                for waiter in self._waiters.get(channel, ()):
                    waiter.woken.set()
            elif kind in (b"subscribe", b"unsubscribe"):
                left = self._in_flight.get(channel, 1) - 1
                if left > 0:
                    self._in_flight[channel] = left
                    return
                self._in_flight.pop(channel, None)
                # The last command sent for the channel has been applied: Redis's state is what was last asked.
                if kind == b"subscribe" and channel in self._asked:
                    self._live.add(channel)
                    for waiter in self._waiters.get(channel, ()):
                        waiter.subscribed.set()


_listener: Listener | None = None
_listener_lock = threading.Lock()


def listener() -> Listener:
    """This process's listener, made on first use (a forked child makes its own: threads do not survive fork)."""
    global _listener
    current = _listener
    if current is None or current.pid != os.getpid():
        with _listener_lock:
            current = _listener
            if current is None or current.pid != os.getpid():
                current = _listener = Listener()
    return current
