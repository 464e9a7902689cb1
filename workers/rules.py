"""Background re-derivation after a rules change."""

import logging

from celery import shared_task

from apps.common.time import utc_now
from apps.rules.followups import RECOMPUTE_DEADLINES_TASK, RECOMPUTE_METRICS_TASK
from apps.rules.models import RulesVersion
from apps.rules.selectors import active_rules
from apps.ticket.services_metrics import recompute_auto_metrics
from apps.ticket.services_work_session import recompute_pause_deadlines

logger = logging.getLogger("ticketflow.rules")


@shared_task(name=RECOMPUTE_METRICS_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_ticket_metrics(version_id: int) -> int:
    """Re-derive every active, non-manual ticket's metrics under the active rules. Idempotent; safe to repeat."""
    started = utc_now()
    changed = recompute_auto_metrics(xp_rules=active_rules().config.ticket_xp, at=started)
    logger.info(
        "ticket metrics re-derived",
        extra={"rules_version_id": version_id, "changed": changed, "seconds": (utc_now() - started).total_seconds()},
    )
    return changed


@shared_task(name=RECOMPUTE_DEADLINES_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_deadlines(version_id: int) -> int:
    """Re-derive every paused session's deadline; none moves earlier than the change. Idempotent."""
    changed_at = RulesVersion.objects.filter(pk=version_id).values_list("created_at", flat=True).first() or utc_now()
    moved = recompute_pause_deadlines(changed_at=changed_at)
    logger.info("pause deadlines re-derived", extra={"rules_version_id": version_id, "moved": moved})
    return moved
