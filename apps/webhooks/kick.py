"""Dispatch on commit: a transaction that recorded events asks for a dispatch as it commits, so its deliveries
start at once instead of at beat's next sweep (which stays the safety net for a kick that is lost).

It is on the write path of every command, so it costs next to nothing:
- Only while an active webhook exists. Each process remembers whether one does and asks again at most every
  ACTIVE_RECHECK_SECONDS (a webhook saved in this process makes it ask at once). A webhook made active elsewhere
  is therefore kicked for only a few seconds after, and served by the sweep meanwhile.
- One dispatcher at a time, queued or running, and it goes on while commits keep coming. Every kick sets the
  PENDING flag; only the kick that takes the DISPATCHER flag publishes a task (both in one round trip). The
  dispatcher clears PENDING before each pass over the feed, so a pass covers every commit that came before it;
  after a pass it gives the DISPATCHER flag back and only then looks at PENDING: a commit during the pass either
  found the flag taken, and left PENDING set for the dispatcher to see, or came after the give-back and published
  a dispatcher of its own. Passes start at most every PASS_INTERVAL_SECONDS, the dispatcher waiting out the rest
  of the interval (holding the flag) before it looks. So a steady stream of commits costs one task message per
  DISPATCHER_SECONDS (each costs a worker about what a no-op task does) and a pass per interval, not one of each
  per commit, and dispatchers do not fight over the same webhooks. A pass only creates and claims deliveries
  (their tasks send them), so it takes milliseconds, far inside the flags' DISPATCHER_FLAG_SECONDS. Where a kick
  is passed over all the same (a pass that outlasts the flags, a webhook row the sweep holds, an event behind a
  writer still in flight), the sweep delivers it.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.common.redis_client import redis_client
from apps.common.tasks import TaskName, send_task_rollback_unsafe
from apps.webhooks.models import Webhook

logger = logging.getLogger("ticketflow.webhooks")

ACTIVE_RECHECK_SECONDS = 2.0
# How long the DISPATCHER flag may stand for a dispatcher: a flag whose task was lost, or whose dispatcher died,
# stops holding kicks back after this; the sweep delivers meanwhile. A dispatcher renews it before each pass.
DISPATCHER_FLAG_SECONDS = 10
DISPATCHER_FLAG = "webhook-dispatcher"
PENDING_FLAG = "webhook-dispatch-pending"  # commits since the dispatcher's last pass began
# How long one dispatcher task goes on; then, if commits are still coming, it publishes the next one.
DISPATCHER_SECONDS = 5.0
# A dispatcher's passes start at least this far apart while commits keep coming: each pass then covers a stretch of
# commits (their deliveries claimed together, in a few tasks with full shares) instead of the one or two that landed
# during the pass before. Without it a pass under a steady stream found nothing pending as often as not, the
# dispatcher ended, and the next commit published another one: some 28 passes and 8 dispatcher tasks a second at
# 230 commands/s. The first pass after a quiet spell still starts at once; a stream's deliveries wait up to this long.
# WEBHOOK_DISPATCH_INTERVAL_MS sets it: 200 ms by default. At 50 ms the two-webhook drive of `make bench` kept
# 0.71-0.80 of the commands/s it reached without webhooks; at 200 ms 0.90 (the worker's CPU per command with
# webhooks 5.7-7.3 ms instead of 6.7-8.1: fewer passes, fuller task shares, fewer rounds), its deliveries' p99 at
# half rate 220 ms instead of 75 (BENCHMARKS.md).
PASS_INTERVAL_SECONDS = settings.WEBHOOK_DISPATCH_INTERVAL_MS / 1000


class _ActiveWebhooks:
    """Whether an active webhook exists, as this process last saw it (a thread may race another: both ask)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._known: bool | None = None
        self._checked_at = 0.0

    def exist(self) -> bool:
        with self._lock:
            fresh = self._known is not None and time.monotonic() - self._checked_at < ACTIVE_RECHECK_SECONDS
            if fresh:
                return self._known
        known = Webhook.objects.filter(active=True).exists()
        with self._lock:
            self._known, self._checked_at = known, time.monotonic()
        return known

    def forget(self) -> None:
        with self._lock:
            self._known = None


active_webhooks = _ActiveWebhooks()


@receiver(post_save, sender=Webhook, dispatch_uid="webhooks.kick.forget_active_webhooks")
def _webhook_saved(**_signal_kwargs) -> None:
    active_webhooks.forget()


def kick_dispatch() -> bool:
    """After a commit that recorded events: publish a dispatcher unless none is needed or one is queued or running
    already (which sees this commit: see the module docstring). True if one was published. Never raises for Redis:
    the sweep is there."""
    if not active_webhooks.exist():
        return False
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            pipe.set(_key(PENDING_FLAG), 1, ex=DISPATCHER_FLAG_SECONDS)
            pipe.set(_key(DISPATCHER_FLAG), 1, nx=True, ex=DISPATCHER_FLAG_SECONDS)
            first = bool(pipe.execute()[1])
    except redis.RedisError:
        first = True  # no flag without Redis; the publish below tells whether the broker is there
    if not first:
        return False
    try:
        publish_dispatcher()
    except Exception:
        _forget(DISPATCHER_FLAG)  # nothing was queued: the next commit must publish
        raise
    return True


def publish_dispatcher() -> None:
    send_task_rollback_unsafe(TaskName.DISPATCH_WEBHOOKS, args=[], queue=settings.CELERY_QUEUE_WEBHOOKS)


def pass_starting() -> None:
    """The dispatcher about to read the feed: commits from now on are the next pass's; its flag renewed."""
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            pipe.delete(_key(PENDING_FLAG))
            pipe.set(_key(DISPATCHER_FLAG), 1, ex=DISPATCHER_FLAG_SECONDS)
            pipe.execute()
    except redis.RedisError:
        logger.warning("could not clear the webhook dispatch flags; they expire by themselves")


def another_pass() -> bool:
    """After a pass: give the DISPATCHER flag back, then, if commits came meanwhile, take it again. True: this
    dispatcher makes another pass. False: none is needed, or a commit after the give-back published a dispatcher
    of its own (or Redis is away: the sweep is there)."""
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            pipe.delete(_key(DISPATCHER_FLAG))
            pipe.exists(_key(PENDING_FLAG))
            pending = pipe.execute()[1]
        return bool(pending) and bool(redis_client().set(_key(DISPATCHER_FLAG), 1, nx=True, ex=DISPATCHER_FLAG_SECONDS))
    except redis.RedisError:
        logger.warning("could not read the webhook dispatch flags; the sweep delivers what a kick misses")
        return False


def _forget(flag: str) -> None:
    try:
        redis_client().delete(_key(flag))
    except redis.RedisError:
        logger.warning("could not clear a webhook dispatch flag; it expires by itself", extra={"flag": flag})


def _key(flag: str) -> str:
    """The flag's Redis key, under the cache's prefix (a test run's, or a deployment's, own)."""
    return cache.make_key(flag)
