"""Celery tasks in-process, without a broker: the stale-command sweep (workers/commands.py) and the worker's
database connection between tasks (config/celery.py).

The sweep re-sends a lane as soon as it goes stale, then waits as long again as the lane already has, up to a cap:
under a backlog every pending lane is "stale" without being lost, and a nudge every stale window would flood the
queue with duplicates the workers drain before the real backlog. A lane whose message is known to wait in the queue
(its "queued" flag is up: apps/commands/dispatch.py) is not sent again at all for QUEUED_TRUSTED_SECONDS.

A worker task reuses the database connection of the task before it, as a web request does (Celery's Django fixup
would close it around every task and pay for a new PostgreSQL backend each time); only a broken or too old one
(CONN_MAX_AGE) is replaced between tasks.
"""

import uuid
from datetime import timedelta

import pytest
import redis
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.commands.dispatch import queued_flag
from apps.common.time import utc_now
from config.celery import app
from tests.support.builders import pending_command
from tests.support.factories import TechnicianFactory
from workers import commands as command_tasks

# --- the stale-command sweep backs off with the lane's age ---------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    lanes = []
    monkeypatch.setattr(command_tasks, "send_lane_rollback_unsafe", lambda lane, **kwargs: lanes.append(lane))
    return lanes


def pending(lane: str, *, age_seconds: float) -> None:
    pending_command(
        TechnicianFactory(), "ticket.start", at=utc_now() - timedelta(seconds=age_seconds), lane=lane, ticket_id=1
    )


def nudge_ttl(lane: str) -> int:
    return redis.Redis.from_url(settings.REDIS_URL).ttl(cache.make_and_validate_key(f"sweep:lane:{lane}"))


@pytest.mark.django_db
def test_a_lane_is_nudged_once_it_is_stale_and_then_after_as_long_again_as_it_waited(sent):
    fresh, young, old, ancient = (f"ticket:test-{uuid.uuid4().hex}" for _ in range(4))
    pending(fresh, age_seconds=1)
    pending(young, age_seconds=settings.COMMAND_STALE_AFTER_SECONDS + 1)
    pending(old, age_seconds=20)
    pending(ancient, age_seconds=3600)

    command_tasks.sweep_stale_commands()

    assert sorted(sent) == sorted([young, old, ancient])  # the fresh one is not stale yet
    assert settings.COMMAND_STALE_AFTER_SECONDS <= nudge_ttl(young) <= settings.COMMAND_STALE_AFTER_SECONDS + 1
    assert 18 <= nudge_ttl(old) <= 20
    assert command_tasks.MAX_NUDGE_INTERVAL - 2 <= nudge_ttl(ancient) <= command_tasks.MAX_NUDGE_INTERVAL

    command_tasks.sweep_stale_commands()
    assert len(sent) == 3  # nothing is nudged twice within its window


@pytest.mark.django_db
def test_a_lane_whose_message_waits_in_the_queue_is_left_alone_until_the_flag_is_no_longer_trusted(sent):
    backlogged, lost, flagged_long_ago = (f"ticket:test-{uuid.uuid4().hex}" for _ in range(3))
    pending(backlogged, age_seconds=settings.COMMAND_STALE_AFTER_SECONDS + 5)
    pending(lost, age_seconds=settings.COMMAND_STALE_AFTER_SECONDS + 5)
    pending(flagged_long_ago, age_seconds=command_tasks.QUEUED_TRUSTED_SECONDS + 5)
    for lane in (backlogged, flagged_long_ago):
        cache.set(queued_flag(lane), 1, timeout=60)  # what publishing the lane's message leaves

    command_tasks.sweep_stale_commands()

    # The flagged lane within the trusted window has a message queued; the others may have lost theirs.
    assert sorted(sent) == sorted([lost, flagged_long_ago])

    cache.delete(queued_flag(backlogged))  # a worker started its drain, which then died
    cache.delete(f"sweep:lane:{backlogged}")
    command_tasks.sweep_stale_commands()
    assert sent.count(backlogged) == 1


# --- the database connection between tasks ---------------------------------------------------------------------------


@pytest.fixture
def persistent_connection(monkeypatch):
    """Production keeps a connection for CONN_MAX_AGE seconds; the test settings keep none."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.ensure_connection()
    yield
    connection.close()


def task_boundary() -> None:
    """What a worker runs between two tasks: the fixup's handlers, then ticketflow's."""
    task = command_tasks.sweep_stale_commands
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_postrun(sender=task)
    task_postrun.send(sender=task, task_id="t1", task=task, args=(), kwargs={})
    fixup.on_task_prerun(sender=task)
    task_prerun.send(sender=task, task_id="t2", task=task, args=(), kwargs={})


@pytest.mark.django_db(transaction=True)  # autocommit, as in a worker
def test_the_next_task_reuses_the_connection(persistent_connection):
    before = connection.connection
    task_boundary()
    assert connection.connection is before
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_replaced_between_tasks(persistent_connection):
    broken = connection.connection
    broken.close()
    connection.errors_occurred = True  # as Django marks it when a query hits a dead connection
    task_boundary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not broken
