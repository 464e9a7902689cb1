"""Queueing lanes for the workers. Messages carry lane names only; the Command rows are the truth.

A lane needs one queued message, not one per command: `process_lane` drains every pending command of its lane.
So a command whose lane already has a message waiting (a Redis flag, set when that message was published and
cleared by the worker as it starts the drain) publishes nothing: under a backlog, a ticket's N commands cost one
task, not N tasks that each wait on the lane's lock to find nothing. The flag only ever suppresses duplicates: if
it lies (a publish lost after it was set), the stale-command sweep re-sends the lane, as it does any lost message.
"""

import logging

import redis
from django.conf import settings
from django.core.cache import cache

from apps.common.tasks import TaskName, on_commit, send_task_rollback_unsafe

logger = logging.getLogger("ticketflow.commands")

# How long a "message queued" flag may suppress publishes. Past it a lane still waiting in a long backlog gets a
# second message (harmless: it finds the lane drained); a flag left by a crash between flag and publish expires.
QUEUED_FLAG_SECONDS = 60


def enqueue_lane(lane: str, *, queue: str | None = None) -> None:
    """After commit, make sure a worker will drain `lane`.

    Scheduled enforcement (`queue` = the timers queue) always publishes: it must not wait behind a backlog of
    ordinary commands whose message happens to be queued already.
    """
    if queue is None:
        on_commit(lambda: send_lane_unless_queued(lane))
    else:
        on_commit(lambda: send_lane_rollback_unsafe(lane, queue=queue))


def send_lane_unless_queued(lane: str) -> bool:
    """Publish a message for `lane` unless one is queued and not yet started. True if one was published."""
    try:
        first = cache.add(queued_flag(lane), 1, timeout=QUEUED_FLAG_SECONDS)
    except redis.RedisError:
        first = True  # no flag without Redis; the publish below will tell whether the broker is there
    if not first:
        return False
    try:
        send_lane_rollback_unsafe(lane)
    except Exception:
        forget_queued(lane)  # nothing was queued: the next command of the lane must publish
        raise
    return True


def send_lane_rollback_unsafe(lane: str, *, queue: str | None = None) -> None:
    """Publish at once. Only for callers outside a transaction (the sweep, a retry); others use enqueue_lane."""
    send_task_rollback_unsafe(TaskName.PROCESS_LANE, args=[lane], queue=queue or settings.CELERY_QUEUE_COMMANDS)


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


def lanes_queued(lanes: list[str]) -> set[str]:
    """Those of `lanes` whose message is queued and not yet started (their flag is up), in one round trip to Redis."""
    if not lanes:
        return set()
    flags = {queued_flag(lane): lane for lane in lanes}
    try:
        return {flags[key] for key in cache.get_many(list(flags))}
    except redis.RedisError:
        return set()  # without the flags every stale lane looks lost, as it may well be
