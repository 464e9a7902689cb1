"""What a rules change sets off in the background, queued after commit."""

from django.conf import settings

from apps.common.tasks import TaskName, send_task_on_commit
from apps.rules.models import RulesVersion


def rederive_after_rules_change(row: RulesVersion) -> None:
    """Queue the re-derivation of ticket metrics and pause deadlines under the new rules, after commit."""
    send_task_on_commit(TaskName.RECOMPUTE_TICKET_METRICS, args=[row.pk], queue=settings.CELERY_QUEUE_MAINTENANCE)
    send_task_on_commit(TaskName.RECOMPUTE_PAUSE_DEADLINES, args=[row.pk], queue=settings.CELERY_QUEUE_TIMERS)
