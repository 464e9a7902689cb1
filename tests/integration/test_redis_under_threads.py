"""The process's Redis clients under the threads of one gthread web process, against the real Redis.

A freshly started web process that gets 40 requests at once makes its Redis client from 40 threads at the same
moment. Every request must get the same client, and none may see its connection closed under it by another
thread: only Redis's own errors are ever caught (the rate limiter fails open on them), so anything else is a 500.
"""

import threading
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.db import connection

from apps.commands import ratelimit, waiting
from apps.commands.notify import announce_finished
from apps.common import redis_client as clients
from apps.common.problems import Problem
from tests.support.builders import pending_command
from tests.support.factories import TechnicianFactory

THREADS = 40
ROUNDS = 8


@pytest.fixture
def slow_connection_setup(monkeypatch):
    """Making a connection pool takes a few milliseconds, as it does on a loaded host, so the first requests of a
    new process race each other to make the client."""
    make_pool = redis.ConnectionPool.__init__

    def slowly(self, *args, **kwargs):
        make_pool(self, *args, **kwargs)
        threading.Event().wait(0.005)

    monkeypatch.setattr(redis.ConnectionPool, "__init__", slowly)


def _new_process() -> None:
    """Forget the clients, as a web process that has not served a request yet."""
    clients.forget_clients()


def _in_threads(work, count: int = THREADS) -> list[BaseException]:
    """Run `work(index)` in `count` threads released at once; the exceptions they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_forty_threads_starting_at_once_share_one_client(slow_connection_setup):
    for _ in range(ROUNDS):
        _new_process()
        seen: list[int] = []

        assert _in_threads(lambda index, seen=seen: seen.append(id(clients.redis_client()))) == []
        assert len(seen) == THREADS and len(set(seen)) == 1
        assert id(clients.redis_client()) == seen[0]


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_submissions_and_waits_raise_nothing_but_rate_limits(slow_connection_setup, settings):
    """One token, 40 threads: each is rate limited, and every other one long-polls a command (pub/sub) while the
    rest go on submitting and announcing finishes. Before the fix a client replaced in the process's cache was
    garbage-collected and closed every connection of its pool, in use or not: the others' reads then raised
    ValueError ("I/O operation on closed file") from inside the Redis client."""
    settings.COMMAND_RATE_LIMIT_PER_MINUTE = 100_000
    command = pending_command(
        TechnicianFactory(), "work_session.pause", at=datetime.now(UTC), ticket_id=1
    )  # never applied: each wait runs its full time
    token = f"threads-{uuid.uuid4().hex[:8]}"

    def request(index: int) -> None:
        for _ in range(5):
            ratelimit.enforce_rate_limit(token)
            if index % 2:
                waiting.wait_until_final(command, seconds=0.15)
            else:
                announce_finished(uuid.uuid4())

    for _ in range(ROUNDS):
        _new_process()
        errors = _in_threads(request)

        assert [error for error in errors if not isinstance(error, Problem)] == []


def test_a_rate_limit_check_never_waits_on_redis_for_long():
    """A hung Redis must cost a submission (which fails open) seconds, not the 30 s a long-poll may last."""
    options = clients.redis_client().connection_pool.connection_kwargs

    assert options["socket_timeout"] <= 5
    assert options["socket_connect_timeout"] <= 5
