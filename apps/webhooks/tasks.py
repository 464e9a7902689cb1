"""Celery tasks of the `webhooks` queue: one attempt at one delivery, the dispatch a commit asks for, and beat's
sweep that keeps them moving."""

import logging

from celery import shared_task

from apps.common.tasks import TaskName
from apps.webhooks.delivery import deliver_in_order, send_due
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.kick import forget_queued

logger = logging.getLogger("ticketflow.webhooks")


@shared_task(name=TaskName.DELIVER_WEBHOOK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str | None:
    """Try one delivery once (if it is still due and the head of its key), then the next ones of its key while they
    are due (apps/webhooks/delivery.py); the rows say what happens next. Returns the last attempt's outcome."""
    outcomes = deliver_in_order(delivery_id)
    return outcomes[-1].status if outcomes else None


@shared_task(name=TaskName.DISPATCH_WEBHOOKS, ignore_result=True)
def dispatch_webhooks() -> int:
    """Sent after a commit that recorded events (apps/webhooks/kick.py): the sweep's work, at once."""
    forget_queued()
    return _dispatch_and_send("webhook deliveries dispatched on commit")


@shared_task(name=TaskName.SWEEP_WEBHOOKS, ignore_result=True, send_events=False)
def sweep_webhooks() -> int:
    """Create the deliveries of newly recorded events, then send a task for every due head not sent lately.

    The guarantee behind every task message: a lost message, a killed worker or a flushed Redis only delays a
    delivery until the next sweep after WEBHOOK_RESEND_AFTER_SECONDS. Any number may run at once.
    """
    return _dispatch_and_send("webhook deliveries swept")


def _dispatch_and_send(message: str) -> int:
    created = dispatch_all()
    sent = send_due()
    if created or sent:
        # Not `created`: LogRecord has an attribute of that name, and logging refuses to overwrite it.
        logger.info(message, extra={"deliveries_created": created, "tasks_sent": sent})
    return sent
