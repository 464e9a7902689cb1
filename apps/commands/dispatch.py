"""Queueing work for the workers. Messages carry ids only; the Command rows are the truth."""

import logging

from celery import current_app
from django.conf import settings

from apps.common.transactions import on_commit_send

logger = logging.getLogger("ticketflow.commands")

PROCESS_LANE_TASK = "ticketflow.commands.process_lane"
# A broker that is down must not hold a request for long: the stale-command sweep re-sends what was lost.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def enqueue_lane(lane: str, *, queue: str | None = None) -> None:
    """After commit, ask a worker to drain `lane` (on the timers queue for scheduled enforcement)."""
    on_commit_send(lambda: send_lane_now(lane, queue=queue))


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
