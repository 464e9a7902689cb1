"""What a rules change sets off in the background: one task per re-derivation job, queued after commit."""

from django.conf import settings

from apps.common.tasks import TaskName, send_task_on_commit, send_task_rollback_unsafe
from apps.rules.models import RederivationJob, RulesVersion

# job → (task, the setting naming its queue): deadlines are timers; metrics are bulk maintenance.
REDERIVATION_TASKS = {
    RederivationJob.TICKET_METRICS: (TaskName.RECOMPUTE_TICKET_METRICS, "CELERY_QUEUE_MAINTENANCE"),
    RederivationJob.PAUSE_DEADLINES: (TaskName.RECOMPUTE_PAUSE_DEADLINES, "CELERY_QUEUE_TIMERS"),
}


def rederive_after_rules_change(row: RulesVersion) -> None:
    """Queue the re-derivation of ticket metrics and pause deadlines under the new rules, after commit."""
    for task, queue_setting in REDERIVATION_TASKS.values():
        send_task_on_commit(task, args=[row.pk], queue=getattr(settings, queue_setting))


def requeue_rederivation(rules_version_id: int, job: str) -> None:
    """Send one re-derivation job again now (beat's sweep, which holds no transaction)."""
    task, queue_setting = REDERIVATION_TASKS[job]
    send_task_rollback_unsafe(task, args=[rules_version_id], queue=getattr(settings, queue_setting))
