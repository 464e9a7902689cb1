"""What a rules change sets off in the background, queued after commit."""

from celery import current_app
from django.conf import settings

from apps.common.transactions import on_commit_send
from apps.rules.models import RulesVersion

RECOMPUTE_METRICS_TASK = "ticketflow.rules.recompute_ticket_metrics"
RECOMPUTE_DEADLINES_TASK = "ticketflow.rules.recompute_pause_deadlines"


def rederive_after_rules_change(row: RulesVersion) -> None:
    """Queue the re-derivation of ticket metrics and pause deadlines under the new rules, after commit."""
    version_id = row.pk
    on_commit_send(
        lambda: current_app.send_task(
            RECOMPUTE_METRICS_TASK, args=[version_id], queue=settings.CELERY_QUEUE_MAINTENANCE
        )
    )
    on_commit_send(
        lambda: current_app.send_task(RECOMPUTE_DEADLINES_TASK, args=[version_id], queue=settings.CELERY_QUEUE_TIMERS)
    )
