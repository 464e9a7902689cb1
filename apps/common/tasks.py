"""Celery task names, and the one way code sends a task: after its transaction commits.

Queued messages and beat rows refer to tasks by name, so each name is spelt once, here; `workers/` registers its
tasks under these names. Messages carry ids only: the database rows are the truth.
"""

from collections.abc import Callable
from datetime import datetime

from celery import current_app
from django.db import transaction


class TaskName:
    PROCESS_LANE = "ticketflow.commands.process_lane"
    SWEEP_STALE_COMMANDS = "ticketflow.commands.sweep_stale_commands"
    PRUNE_IDEMPOTENCY_KEYS = "ticketflow.commands.prune_idempotency_keys"
    AUTO_RESUME = "ticketflow.timers.auto_resume"
    SWEEP_DUE_AUTO_RESUMES = "ticketflow.timers.sweep_due_auto_resumes"
    RECOMPUTE_TICKET_METRICS = "ticketflow.rules.recompute_ticket_metrics"
    RECOMPUTE_PAUSE_DEADLINES = "ticketflow.rules.recompute_pause_deadlines"
    SWEEP_MISSED_REDERIVATIONS = "ticketflow.rules.sweep_missed_rederivations"
    PRUNE_EVENTS = "ticketflow.events.prune_events"
    DELIVER_WEBHOOK = "ticketflow.webhooks.deliver"
    DISPATCH_WEBHOOKS = "ticketflow.webhooks.dispatch"
    SWEEP_WEBHOOKS = "ticketflow.webhooks.sweep"


# A broker that is down must not hold a request or a transaction's caller for long: the sweeps re-send what is lost.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def on_commit(side_effect: Callable[[], object]) -> None:
    """Run `side_effect` (a publish) once the current transaction commits; outside a transaction, at once.

    `robust=True`: a broker hiccup after commit must not turn a committed write into an error; the sweeps re-send
    whatever was not sent.
    """
    transaction.on_commit(side_effect, robust=True)


def send_task_on_commit(name: str, *, args: list, queue: str, eta: datetime | None = None) -> None:
    """Send a task once the current transaction commits: a rolled-back write sends nothing."""
    on_commit(lambda: send_task_rollback_unsafe(name, args=args, queue=queue, eta=eta))


def send_task_rollback_unsafe(name: str, *, args: list, queue: str, eta: datetime | None = None) -> None:
    """Publish now. Inside a transaction this would announce work that may yet roll back: only for callers that
    hold none (sweeps, retries, on-commit callbacks)."""
    current_app.send_task(
        name,
        args=args,
        queue=queue,
        eta=eta,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )
