"""Event-log upkeep, run by beat on the maintenance queue."""

import logging

from celery import shared_task

from apps.common.tasks import TaskName
from apps.events.retention import prune_expired_events

logger = logging.getLogger("ticketflow.workers")


@shared_task(name=TaskName.PRUNE_EVENTS, ignore_result=True)
def prune_events() -> int:
    """Delete events older than EVENT_RETENTION_DAYS, a batch per transaction; safe to run any number of times."""
    pruned = prune_expired_events()
    if pruned:
        logger.info("events pruned", extra={"count": pruned})
    return pruned
