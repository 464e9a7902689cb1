"""Dispatch on commit: a transaction that recorded events asks for a dispatch as it commits, so its deliveries
start at once instead of at beat's next sweep (which stays the safety net for a kick that is lost).

It is on the write path of every command, so it costs next to nothing:
- Only while an active webhook exists. Each process remembers whether one does and asks again at most every
  ACTIVE_RECHECK_SECONDS (a webhook saved in this process makes it ask at once). A webhook made active elsewhere
  is therefore kicked for only a few seconds after, and served by the sweep meanwhile.
- One queued dispatch at a time, as lanes are queued (apps/commands/dispatch.py): a Redis flag set when a dispatch
  task is published and cleared by the task before it reads the feed. A burst of commits while one is queued
  publishes nothing; a commit after the task cleared the flag publishes the next, so none is passed over (the
  dispatcher reads only what committed before it started, and a commit after that finds the flag cleared).
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.common.tasks import TaskName, send_task_rollback_unsafe
from apps.webhooks.models import Webhook

logger = logging.getLogger("ticketflow.webhooks")

ACTIVE_RECHECK_SECONDS = 2.0
# How long the flag may suppress publishes: a flag whose task was lost (or is stuck behind a long queue) stops
# suppressing after this; the sweep delivers meanwhile.
QUEUED_FLAG_SECONDS = 10
QUEUED_FLAG = "webhook-dispatch-queued"


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
    """After a commit that recorded events: publish a dispatch unless none is needed or one is queued already.
    True if one was published. Never raises for Redis: the sweep is there."""
    if not active_webhooks.exist():
        return False
    try:
        first = cache.add(QUEUED_FLAG, 1, timeout=QUEUED_FLAG_SECONDS)
    except redis.RedisError:
        first = True  # no flag without Redis; the publish below tells whether the broker is there
    if not first:
        return False
    try:
        send_task_rollback_unsafe(TaskName.DISPATCH_WEBHOOKS, args=[], queue=settings.CELERY_QUEUE_WEBHOOKS)
    except Exception:
        forget_queued()  # nothing was queued: the next commit must publish
        raise
    return True


def forget_queued() -> None:
    """The dispatch task starting: commits from now on need a task of their own. Cleared before it reads the feed."""
    try:
        cache.delete(QUEUED_FLAG)
    except redis.RedisError:
        logger.warning("could not clear the webhook dispatch flag; it expires by itself")
