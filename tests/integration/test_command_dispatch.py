"""Queueing lanes for the workers (apps.commands.dispatch): a lane needs one queued message, not one per command.

`process_lane` drains every pending command of its lane, so the second command of a lane whose message is still
queued publishes nothing; the worker clears the flag as it starts the drain, so a command it might miss publishes
again. A ticket's N quick commands thus cost one task, not N tasks that each wait on the lane's lock to find
nothing. Real Redis: the queue is a list we count.
"""

import uuid

import pytest
import redis
from django.core.cache import cache

from apps.commands import dispatch
from apps.commands.intake import submit_command
from apps.commands.system import submit_auto_resume
from apps.common.time import utc_now
from apps.ticket.models import WorkSession
from workers import commands as command_tasks

# Commits for real: the messages are published on commit, to a queue of this test's own.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queues(settings):
    """Private queue names, so no live worker anywhere consumes what these tests count."""
    tag = uuid.uuid4().hex[:8]
    settings.CELERY_QUEUE_COMMANDS = f"coalesce-{tag}-commands"
    settings.CELERY_QUEUE_TIMERS = f"coalesce-{tag}-timers"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield lambda queue="commands": client.llen(getattr(settings, f"CELERY_QUEUE_{queue.upper()}"))
    client.delete(settings.CELERY_QUEUE_COMMANDS, settings.CELERY_QUEUE_TIMERS)


def start(shop, ticket_id: int, kind: str = "ticket.start"):
    return submit_command(
        submitter=shop.technician, body={"type": kind, "ticket_id": ticket_id}, idempotency_key=None
    ).command


def test_commands_of_a_lane_whose_message_waits_publish_nothing_more(shop, queues):
    ticket = shop.assigned()
    for kind in ("ticket.start", "work_session.pause", "work_session.resume"):
        start(shop, ticket.pk, kind)
    assert queues() == 1
    assert cache.get(dispatch.queued_flag(f"ticket:{ticket.pk}")) is not None


def test_other_lanes_each_get_their_own_message(shop, queues, other_item, other_item_part):
    first = shop.assigned()
    second = shop.assigned(item=other_item, parts=[other_item_part])
    start(shop, first.pk)
    start(shop, second.pk)
    assert queues() == 2


def test_a_command_after_the_drain_started_publishes_again(shop, queues, monkeypatch):
    """The worker clears the flag before it reads the lane, so a command committed during the drain is never left
    without a message: either the drain sees it, or it published one."""
    ticket = shop.assigned()
    start(shop, ticket.pk)
    lane = f"ticket:{ticket.pk}"

    def drain_while_a_command_arrives(drained_lane):
        start(shop, ticket.pk, "work_session.pause")  # arrives mid-drain
        return 0

    monkeypatch.setattr(command_tasks, "drain_lane", drain_while_a_command_arrives)
    command_tasks.process_lane.apply(args=[lane])
    assert queues() == 2  # the first message (not consumed here) and the one the mid-drain command published


def test_a_failed_publish_leaves_no_flag_behind(shop, queues, monkeypatch):
    ticket = shop.assigned()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(dispatch, "send_lane_rollback_unsafe", broker_down)
    start(shop, ticket.pk)  # committed: the publish failure is logged, not raised (the sweep re-sends the lane)
    assert cache.get(dispatch.queued_flag(f"ticket:{ticket.pk}")) is None
    monkeypatch.undo()
    start(shop, ticket.pk, "work_session.pause")
    assert queues() == 1  # the next command of the lane published at once


def test_an_auto_resume_is_queued_on_the_timers_queue_even_behind_a_queued_lane(shop, queues):
    """Scheduled enforcement must not wait behind a backlog of ordinary commands that holds the lane's flag."""
    outcome = shop.started()
    ticket, session = outcome.ticket, outcome.work_session
    start(shop, ticket.pk, "work_session.pause")
    assert queues() == 1
    WorkSession.objects.filter(pk=session.pk).update(status="paused", auto_resume_at=utc_now())
    session.refresh_from_db()
    assert submit_auto_resume(
        ticket_id=ticket.pk, session_id=session.pk, auto_resume_at=session.auto_resume_at, stored_at=utc_now()
    )
    assert (queues("commands"), queues("timers")) == (1, 1)
