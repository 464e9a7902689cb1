"""Queueing work for the workers. Messages carry ids only; the Command rows are the truth.

A lane needs one queued message, not one per command: `process_lane` drains every pending command of its lane.
So a command whose lane already has a message waiting (a Redis flag, set when that message was published and
cleared by the worker as it starts the drain) publishes nothing. Under a backlog this turns N messages for a
ticket's N commands into one, where each extra message used to cost a task, an empty transaction and usually a
wait on the lane's lock. The flag only ever suppresses duplicates: if it lies (a publish lost after it was set),
the stale-command sweep still re-sends the lane, as it does for any lost message.
"""

import logging

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache

from apps.common.transactions import on_commit_send

logger = logging.getLogger("ticketflow.commands")

PROCESS_LANE_TASK = "ticketflow.commands.process_lane"
# A broker that is down must not hold a request for long: the stale-command sweep re-sends what was lost.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# How long a "message queued" flag may suppress publishes. Past it a lane still waiting in a long backlog gets a
# second message (harmless: it finds the lane drained); a flag left by a crash between flag and publish expires.
QUEUED_FLAG_SECONDS = 60


def enqueue_lane(lane: str, *, queue: str | None = None) -> None:
    """After commit, make sure a worker will drain `lane`.

    Scheduled enforcement (`queue` = the timers queue) always publishes: it must not wait behind a backlog of
    ordinary commands whose message happens to be queued already.
    """
    if queue is None:
        on_commit_send(lambda: send_lane_unless_queued(lane))
    else:
        on_commit_send(lambda: send_lane_now(lane, queue=queue))


def send_lane_unless_queued(lane: str) -> bool:
    """Publish a message for `lane` unless one is queued and not yet started. True if one was published."""
    try:
        first = cache.add(queued_flag(lane), 1, timeout=QUEUED_FLAG_SECONDS)
    except redis.RedisError:
        first = True  # no flag without Redis; the publish below will tell whether the broker is there
    if not first:
        return False
    try:
        send_lane_now(lane)
    except Exception:
        forget_queued(lane)  # nothing was queued: the next command of the lane must publish
        raise
    return True


def send_lane_now(lane: str, *, queue: str | None = None, countdown: float | None = None) -> None:
    """Publish at once. Only for callers outside a transaction (the sweep, a retry); others use enqueue_lane."""
    current_app.send_task(
        PROCESS_LANE_TASK,
        args=[lane],
        queue=queue or settings.CELERY_QUEUE_COMMANDS,
        countdown=countdown,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def forget_queued(lane: str) -> None:
    """The worker starting a drain of `lane`: commands committed from now on need a message of their own.

    Cleared before the drain reads anything, so a command the drain might miss always finds no flag and publishes.
    """
    try:
        cache.delete(queued_flag(lane))
    except redis.RedisError:
        logger.warning("could not clear the queued flag of %s; it expires by itself", lane)


def queued_flag(lane: str) -> str:
    return f"lane-queued:{lane}"
