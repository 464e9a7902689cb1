"""Background re-derivation after a rules change, and the sweep that re-queues one that never ran."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import shared_task
from django.db import connection

from apps.common import time as clock
from apps.common.tasks import TaskName
from apps.rules.followups import requeue_rederivation
from apps.rules.models import RederivationJob
from apps.rules.selectors import ActiveRules, latest_rules, missing_rederivations, rederivation_recorded
from apps.rules.services import record_rederivation
from apps.ticket import services_rules_change
from workers.sweeps import SWEEP_TASK_OPTIONS

logger = logging.getLogger("ticketflow.rules")

# How long after a version is made its re-derivations may be missing before the sweep sends them again (the
# normal path takes well under a second to queue them); a module constant, not a setting.
REQUEUE_AFTER_SECONDS = 10


@shared_task(name=TaskName.RECOMPUTE_TICKET_METRICS, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_ticket_metrics(version_id: int) -> int:
    """Re-derive every active, non-manual ticket's metrics under the latest rules, then record it. Idempotent."""
    return _rederive(RederivationJob.TICKET_METRICS, version_id, _ticket_metrics)


@shared_task(name=TaskName.RECOMPUTE_PAUSE_DEADLINES, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_pause_deadlines(version_id: int) -> int:
    """Re-derive every paused session's deadline under the latest rules, then record it; none moves earlier than
    that version was made. Idempotent."""
    return _rederive(RederivationJob.PAUSE_DEADLINES, version_id, _pause_deadlines)


@shared_task(name=TaskName.SWEEP_MISSED_REDERIVATIONS, **SWEEP_TASK_OPTIONS)
def sweep_missed_rederivations() -> int:
    """Re-queue each re-derivation the latest rules version still lacks REQUEUE_AFTER_SECONDS after it was made (its
    message lost with Redis, its worker killed). Idempotent: a job already recorded or running ignores a repeat."""
    made_before = clock.database_now() - timedelta(seconds=REQUEUE_AFTER_SECONDS)
    version_id, jobs = missing_rederivations(made_before=made_before)
    for job in jobs:
        requeue_rederivation(version_id, job)
    if jobs:
        logger.warning("re-queued missed rules re-derivations", extra={"rules_version_id": version_id, "jobs": jobs})
    return len(jobs)


def _ticket_metrics(rules: ActiveRules) -> int:
    xp_rules = rules.config.ticket_xp
    return services_rules_change.recompute_auto_metrics(xp_rules=xp_rules, at=clock.database_now())


def _pause_deadlines(rules: ActiveRules) -> int:
    config = rules.config.work_session
    return services_rules_change.recompute_pause_deadlines(changed_at=rules.created_at, config=config)


def _rederive(job: str, version_id: int, run: Callable[[ActiveRules], int]) -> int:
    """Run `job` under the latest version and record it, one worker at a time.

    The rules are read from the database, not the cache, so a lost publish cannot leave a job on old rules, and
    the change's own instant goes with them. A message arriving while another worker runs the job returns at
    once: that worker looks again for a newer version each time it lets go, and runs the job again for it.
    """
    changed = 0
    while True:
        with _one_at_a_time(job) as mine:
            if not mine:
                return changed
            rules = latest_rules()
            if rederivation_recorded(rules_version_id=rules.row_id, job=job):
                return changed
            started = time.monotonic()
            done = run(rules)
            record_rederivation(rules_version_id=rules.row_id, job=job)
        changed += done
        logger.info(
            "rules re-derivation finished",
            extra={
                "job": job,
                "rules_version_id": rules.row_id,
                "requested_version_id": version_id,
                "changed": done,
                "seconds": round(time.monotonic() - started, 3),
            },
        )


@contextmanager
def _one_at_a_time(job: str) -> Iterator[bool]:
    """A session-level advisory lock per job, held across the job's many short transactions (released if the
    worker's connection dies)."""
    key = f"rules-rederivation:{job}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
