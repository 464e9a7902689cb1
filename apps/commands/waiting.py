"""`Prefer: wait=N`: hold a request until its command is final (or, for the event feed, until a matching event is
recorded), or N seconds pass.

The waiter is subscribed to the Redis channel (through the process's one listener, apps/commands/listener.py)
before it re-reads the rows, so a finish that lands between the two is never missed; a lost announcement costs at
most a second, after which the row is read again.

A wait holds a thread of the web process. Two limits keep waits from starving plain requests: a token may hold
COMMAND_MAX_WAITS_PER_TOKEN waits at once (429 beyond, counted in Redis across processes), and waits may hold at
most half of a process's threads (config/gunicorn.py says how many it has); a request that finds them all taken
is answered at once, as without `Prefer: wait` (RFC 7240 lets a server decline a preference).
"""

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from apps.commands.listener import listener
from apps.commands.models import Command, CommandStatus
from apps.commands.notify import channel
from apps.commands.ratelimit import wait_lease
from apps.common.db import prepared_cursor

MAX_WAIT_SECONDS = 30
REREAD_SECONDS = 1.0  # a waiter reads again this often though no message came (one may have been lost)
SUBSCRIBE_WAIT_SECONDS = 1.0  # at most this long for Redis to confirm a subscription before the first read
POLL_WITHOUT_REDIS_SECONDS = 0.05
# The share of a web process's threads that waits may hold; the rest serve plain requests whatever waits arrive.
WAITING_SHARE_OF_THREADS = 0.5
_waiting_threads: threading.BoundedSemaphore | None = None  # None: not told the thread count, no process limit
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d{1,6})\"?", re.IGNORECASE)


def requested_wait(prefer_header: str | None) -> int | None:
    """Seconds asked for in a `Prefer` header (RFC 7240), capped at 30; None when there is no valid request."""
    if not prefer_header:
        return None
    match = _PREFER_WAIT.search(prefer_header)
    return min(int(match.group(1)), MAX_WAIT_SECONDS) if match else None


def share_threads(total: int) -> None:
    """Tell this process how many request threads it has (called once per web worker by config/gunicorn.py)."""
    global _waiting_threads
    _waiting_threads = threading.BoundedSemaphore(max(1, int(total * WAITING_SHARE_OF_THREADS)))


@contextmanager
def turn_to_wait(token_key: str, *, seconds: int | None) -> Iterator[bool]:
    """Whether this request may hold its thread waiting, for the block. Raises a 429 problem (before the caller
    stores anything) when its token already holds its cap of waits; False when the process's share of threads for
    waiting is taken, or no wait was asked for."""
    if not seconds:
        yield False
        return
    with wait_lease(token_key, seconds=seconds):
        threads = _waiting_threads
        thread_taken = threads is None or threads.acquire(blocking=False)
        try:
            yield thread_taken
        finally:
            if thread_taken and threads is not None:
                threads.release()


def wait_until_final(command: Command, *, seconds: float) -> Command:
    """The command as it is once final, or as it was stored if `seconds` pass first. Each check reads its status
    alone; the row is read in full once, when it is final."""
    if command.is_final or seconds <= 0:
        return command
    if wait_for(channel(command.id), ready=lambda: has_finished(command.id), seconds=seconds):
        command.refresh_from_db()
    return command


def has_finished(command_id) -> bool:
    with prepared_cursor() as cursor:
        cursor.execute(_HAS_FINISHED, [command_id])
        row = cursor.fetchone()
    return row is not None and row[0]


_HAS_FINISHED = f"SELECT status <> '{CommandStatus.PENDING}' FROM {Command._meta.db_table} WHERE id = %s"


def wait_for(channel_name: str, *, ready: Callable[[], bool], seconds: float) -> bool:
    """Call `ready` (which reads the database) until it is true or `seconds` pass; wake on each message published
    on `channel_name`, and once a second regardless. Returns the last answer of `ready`."""
    deadline = time.monotonic() + seconds
    wakeups = listener()
    with wakeups.waiting(channel_name) as waiter:
        # Read only once Redis has made the subscription, so an announcement between the two is not missed. Should
        # the confirmation be late, read anyway: a missed announcement then costs at most one re-read interval.
        if wakeups.healthy:
            waiter.subscribed.wait(min(SUBSCRIBE_WAIT_SECONDS, seconds))
        done = ready()
        while not done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Without Redis, poll the database: slower, still correct.
            waiter.woken.wait(min(remaining, REREAD_SECONDS if wakeups.healthy else POLL_WITHOUT_REDIS_SECONDS))
            waiter.woken.clear()  # before the read: a message arriving from here on wakes the next wait
            done = ready()
    return done
