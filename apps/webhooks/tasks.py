"""Celery tasks of the `webhooks` queue: one attempt at one delivery, the dispatch a commit asks for, and beat's
sweep that keeps them moving."""

import logging
import time

from celery import shared_task
from django.db import transaction

from apps.common.tasks import TaskName, on_commit
from apps.webhooks.delivery import claim_due_heads, deliver_claimed, send_shares, task_shares
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.kick import (
    DISPATCHER_SECONDS,
    PASS_INTERVAL_SECONDS,
    another_pass,
    pass_starting,
    publish_dispatcher,
)

logger = logging.getLogger("ticketflow.webhooks")


@shared_task(name=TaskName.DELIVER_WEBHOOK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(*delivery_ids: int) -> str | None:
    """Try each delivery once (if it is still due and the head of its key), each followed by the next ones of its
    key while they are due (apps/webhooks/delivery.py); the rows say what happens next. The ids are claimed heads
    of one webhook (a message from before they were grouped carries one). Returns the last attempt's outcome."""
    outcomes = deliver_claimed(list(delivery_ids))
    return outcomes[-1].status if outcomes else None


@shared_task(name=TaskName.DISPATCH_WEBHOOKS, ignore_result=True)
def dispatch_webhooks() -> int:
    """The dispatcher a commit that recorded events asks for (apps/webhooks/kick.py): the sweep's work, at once. It
    makes another pass while commits keep coming, at most one per PASS_INTERVAL_SECONDS, for up to
    DISPATCHER_SECONDS; then, if they still come, it publishes the next dispatcher. It sends every delivery to a
    task and tries none itself: one dispatcher serves every webhook, and a slow receiver (an answer may take 10 s)
    must hold up only its own deliveries, not the dispatch of everyone's. Returns how many heads its passes claimed."""
    ends = time.monotonic() + DISPATCHER_SECONDS
    claimed = 0
    while True:
        pass_started = time.monotonic()
        pass_starting()
        claimed += _dispatch_and_send("webhook deliveries dispatched on commit")
        # Commits meanwhile find the flag held and only mark themselves pending: the next pass takes them together.
        time.sleep(max(0.0, pass_started + PASS_INTERVAL_SECONDS - time.monotonic()))
        if not another_pass():
            return claimed
        if time.monotonic() >= ends:
            publish_dispatcher()  # it holds the flag this one took back
            return claimed


@shared_task(name=TaskName.SWEEP_WEBHOOKS, ignore_result=True, send_events=False)
def sweep_webhooks() -> int:
    """Create the deliveries of newly recorded events, then send a task for the due heads not sent lately.

    The guarantee behind every task message: a lost message, a killed worker or a flushed Redis only delays a
    delivery until the next sweep after WEBHOOK_RESEND_AFTER_SECONDS. Any number may run at once.
    """
    return _dispatch_and_send("webhook deliveries swept")


def _dispatch_and_send(message: str) -> int:
    """Create deliveries, claim the due heads and send their tasks. Returns how many heads were claimed."""
    created = dispatch_all()
    with transaction.atomic():
        heads = claim_due_heads()
        shares = task_shares(heads)
        on_commit(lambda: send_shares(shares))  # a publish lost here is the sweep's, after the resend window
    claimed = len(heads)
    if created or claimed:
        # Not `created`: LogRecord has an attribute of that name, and logging refuses to overwrite it.
        logger.info(message, extra={"deliveries_created": created, "heads_claimed": claimed})
    return claimed
