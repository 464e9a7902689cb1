"""Background re-derivation after a rules change."""

import logging
import time

from celery import shared_task

from apps.common import time as clock
from apps.common.tasks import TaskName
from apps.rules.models import RulesVersion
from apps.rules.selectors import active_rules
from apps.ticket import services_rules_change

logger = logging.getLogger("ticketflow.rules")


@shared_task(name=TaskName.RECOMPUTE_TICKET_METRICS, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_ticket_metrics(version_id: int) -> int:
    """Re-derive every active, non-manual ticket's metrics under the active rules. Idempotent; safe to repeat."""
    started = time.monotonic()
    xp_rules = active_rules().config.ticket_xp
    changed = services_rules_change.recompute_auto_metrics(xp_rules=xp_rules, at=clock.database_now())
    logger.info(
        "ticket metrics re-derived",
        extra={"rules_version_id": version_id, "changed": changed, "seconds": round(time.monotonic() - started, 3)},
    )
    return changed


@shared_task(name=TaskName.RECOMPUTE_PAUSE_DEADLINES, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_pause_deadlines(version_id: int) -> int:
    """Re-derive every paused session's deadline; none moves earlier than the change. Idempotent."""
    changed_at = RulesVersion.objects.filter(pk=version_id).values_list("created_at", flat=True).first()
    if changed_at is None:
        changed_at = clock.database_now()
    moved = services_rules_change.recompute_pause_deadlines(changed_at=changed_at)
    logger.info("pause deadlines re-derived", extra={"rules_version_id": version_id, "moved": moved})
    return moved
