"""The periodic jobs that beat (django-celery-beat's DatabaseScheduler) runs, registered idempotently."""

import json
from dataclasses import dataclass

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.common.tasks import TaskName


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    every_seconds: int
    queue_setting: str
    expires_seconds: int


def periodic_jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob(
            name="ticketflow: resume sessions whose pause budget ran out",
            task=TaskName.SWEEP_DUE_AUTO_RESUMES,
            every_seconds=1,
            queue_setting="CELERY_QUEUE_TIMERS",
            expires_seconds=5,
        ),
        PeriodicJob(
            name="ticketflow: re-queue stale commands",
            task=TaskName.SWEEP_STALE_COMMANDS,
            every_seconds=2,
            queue_setting="CELERY_QUEUE_MAINTENANCE",
            expires_seconds=10,
        ),
        PeriodicJob(
            name="ticketflow: re-queue rules re-derivations that never ran",
            task=TaskName.SWEEP_MISSED_REDERIVATIONS,
            every_seconds=5,
            queue_setting="CELERY_QUEUE_MAINTENANCE",
            expires_seconds=10,
        ),
        PeriodicJob(
            name="ticketflow: create and send webhook deliveries",
            task=TaskName.SWEEP_WEBHOOKS,
            every_seconds=1,
            queue_setting="CELERY_QUEUE_WEBHOOKS",
            expires_seconds=5,
        ),
        PeriodicJob(
            name="ticketflow: prune old idempotency keys",
            task=TaskName.PRUNE_IDEMPOTENCY_KEYS,
            every_seconds=3600,
            queue_setting="CELERY_QUEUE_MAINTENANCE",
            expires_seconds=600,
        ),
        PeriodicJob(
            name="ticketflow: prune events past EVENT_RETENTION_DAYS",
            task=TaskName.PRUNE_EVENTS,
            every_seconds=3600,
            queue_setting="CELERY_QUEUE_MAINTENANCE",
            expires_seconds=600,
        ),
    ]


def register_periodic_tasks(**_signal_kwargs) -> int:
    """Create or update the beat rows for every job; safe to call on every migrate and every start."""
    for job in periodic_jobs():
        schedule, _ = IntervalSchedule.objects.get_or_create(every=job.every_seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=job.name,
            defaults={
                "task": job.task,
                "interval": schedule,
                "queue": getattr(settings, job.queue_setting),
                "expires": None,
                "expire_seconds": job.expires_seconds,
                "kwargs": json.dumps({}),
                "enabled": True,
            },
        )
    return len(periodic_jobs())
