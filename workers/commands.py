"""Tasks that apply commands. Thin: take ids, call one function, decide about retries."""

import logging
from datetime import timedelta

import redis
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, close_old_connections, connections, transaction
from kombu.exceptions import OperationalError as BrokerError

from apps.commands.dispatch import QUEUED_FLAG_SECONDS, forget_queued, lanes_queued, send_lane_rollback_unsafe
from apps.commands.models import Command
from apps.commands.processing import drain_lane, mark_failed
from apps.common import time as clock
from apps.common.tasks import TaskName
from workers.sweeps import SWEEP_TASK_OPTIONS

logger = logging.getLogger("ticketflow.workers")

INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.RedisError, BrokerError)
MAX_NUDGE_INTERVAL = 30  # seconds: however long a lane has waited, a stranded one is re-sent this often
# A lane whose message is still queued (its flag is up) is left alone this long: a backlog is not a loss. The flag
# can outlive its message only when a worker dies holding the message unstarted, or a web process between flag and
# publish; such a lane is then re-sent after this long instead of after the stale window.
QUEUED_TRUSTED_SECONDS = MAX_NUDGE_INTERVAL
assert QUEUED_TRUSTED_SECONDS <= QUEUED_FLAG_SECONDS  # past the flag's own life there is nothing left to trust


@shared_task(name=TaskName.PROCESS_LANE, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def process_lane(self, lane: str) -> int:
    """Apply every pending command of one lane, in order, one transaction each.

    Idempotent: a repeated message finds nothing pending. Database and broker errors are retried with
    exponential backoff; once a command has used COMMAND_MAX_ATTEMPTS it is marked `failed` so the lane moves on.
    Domain refusals are never retried: they are recorded as `rejected`.
    """
    forget_queued(lane)  # from here on, a new command of this lane queues a message of its own
    try:
        return drain_lane(lane)
    except INFRASTRUCTURE_ERRORS as exc:
        _drop_broken_connections()
        exhausted = _count_failed_attempt(lane, exc)
        if exhausted:
            send_lane_rollback_unsafe(lane)  # the commands behind the failed one still need a worker
            return 0
        delay = min(0.5 * 2**self.request.retries, 30)
        logger.warning("lane %s hit %s; retrying in %.1fs", lane, type(exc).__name__, delay)
        raise self.retry(exc=exc, countdown=delay, max_retries=settings.COMMAND_MAX_ATTEMPTS * 4) from exc


@shared_task(name=TaskName.SWEEP_STALE_COMMANDS, **SWEEP_TASK_OPTIONS)
def sweep_stale_commands() -> int:
    """Re-queue lanes whose commands stayed pending past COMMAND_STALE_AFTER_SECONDS (lost queue messages).

    Safe to run anywhere, any number of times: a lane sent twice is drained once.
    """
    now = clock.database_now()  # the clock submitted_at was read from
    stale_after = settings.COMMAND_STALE_AFTER_SECONDS
    lanes = list(Command.objects.stale_lanes(now - timedelta(seconds=stale_after))[:1000])
    queued = lanes_queued([lane for lane, oldest in lanes if now - oldest < timedelta(seconds=QUEUED_TRUSTED_SECONDS)])
    sent = 0
    for lane, oldest in lanes:
        if lane in queued:
            continue  # its message waits in the queue, behind a backlog: another one would only lengthen it
        # A lane is re-nudged only after it has waited as long again (up to a cap): a lost message is re-sent as
        # soon as it goes stale, while a lane merely queued behind a backlog gets a few duplicates, not one every
        # stale window that would feed the very backlog it waits behind.
        window = max(stale_after, min(int((now - oldest).total_seconds()), MAX_NUDGE_INTERVAL))
        if cache.add(f"sweep:lane:{lane}", 1, timeout=window):
            send_lane_rollback_unsafe(lane)
            sent += 1
    if sent:
        logger.info("re-queued stale lanes", extra={"lanes": sent})
    return sent


def _count_failed_attempt(lane: str, exc: Exception) -> bool:
    """Charge the failure to the lane's oldest pending command; True once it has been marked failed."""
    try:
        with transaction.atomic():
            command = Command.objects.oldest_pending_in_lane(lane).select_for_update().first()
            if command is None:
                return False
            command.attempts += 1
            command.save(update_fields=["attempts"])
        if command.attempts >= settings.COMMAND_MAX_ATTEMPTS:
            mark_failed(command.id, reason=f"{type(exc).__name__}: {exc}")
            return True
    except INFRASTRUCTURE_ERRORS:
        _drop_broken_connections()  # the database itself is away: the retry will try again
    return False


def _drop_broken_connections() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
    close_old_connections()


@shared_task(name=TaskName.PRUNE_IDEMPOTENCY_KEYS, ignore_result=True)
def prune_idempotency_keys() -> int:
    """Forget idempotency keys of finished commands older than IDEMPOTENCY_RETENTION_HOURS (commands stay)."""
    cutoff = clock.database_now() - timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    pruned = (
        Command.objects.filter(idempotency_key__isnull=False, submitted_at__lt=cutoff)
        .exclude(status="pending")
        .update(idempotency_key=None)
    )
    if pruned:
        logger.info("idempotency keys pruned", extra={"count": pruned})
    return pruned
