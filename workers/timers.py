"""Scheduled enforcement of pause budgets: the ETA job at each deadline, and the sweep that guarantees it."""

import logging
import time
from datetime import datetime

from celery import shared_task

from apps.commands.models import Command
from apps.commands.system import auto_resume_key, submit_auto_resume
from apps.common import time as clock
from apps.common.tasks import TaskName
from apps.ticket.models import WorkSession
from workers.sweeps import SWEEP_TASK_OPTIONS

logger = logging.getLogger("ticketflow.timers")

SWEEP_BATCH = 500
# A message may arrive a little early (this host's clock ahead of PostgreSQL's); wait that out rather than leave it
# to the sweep.
EARLY_TOLERANCE_SECONDS = 5


@shared_task(name=TaskName.AUTO_RESUME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def auto_resume(session_id: int, deadline_iso: str) -> bool:
    """At a pause's deadline, submit the session's auto-resume command (idempotent per session and deadline).

    Due-ness is judged by PostgreSQL's clock, whatever this host's says. A stale message (the session was resumed,
    stopped, or its deadline moved) does nothing.
    """
    deadline = datetime.fromisoformat(deadline_iso)
    ticket_id = (
        WorkSession.domain.paused()
        .filter(pk=session_id, auto_resume_at=deadline)
        .values_list("ticket_id", flat=True)
        .first()
    )
    if ticket_id is None:
        return False
    early = (deadline - clock.database_now()).total_seconds()
    if early > EARLY_TOLERANCE_SECONDS:
        return False  # far too early (a redelivery): the sweep resumes it on time
    if early > 0:
        time.sleep(early)
    return submit_auto_resume(
        ticket_id=ticket_id, session_id=session_id, auto_resume_at=deadline, stored_at=clock.database_now()
    )


@shared_task(name=TaskName.SWEEP_DUE_AUTO_RESUMES, **SWEEP_TASK_OPTIONS)
def sweep_due_auto_resumes() -> int:
    """Submit the auto-resume of every paused session whose deadline has passed by PostgreSQL's clock (an index
    scan).

    The guarantee behind the ETA job: lost, late or duplicated messages, restarted workers, a flushed Redis.
    Any number of sweeps may run at once; the commands' idempotency keys keep it to one resume per pause.
    """
    now = clock.database_now()
    due = WorkSession.domain.paused_due(now).order_by("auto_resume_at")
    submitted = 0
    for session_id, ticket_id, deadline in due.values_list("pk", "ticket_id", "auto_resume_at")[:SWEEP_BATCH]:
        if submit_auto_resume(ticket_id=ticket_id, session_id=session_id, auto_resume_at=deadline, stored_at=now):
            submitted += 1
        elif (
            not Command.objects.pending().filter(idempotency_key__startswith=auto_resume_key(session_id, deadline))
            and WorkSession.domain.paused_due(now).filter(pk=session_id, auto_resume_at=deadline).exists()
        ):
            # The earlier command finished yet the session is still due: it was stored a moment before the
            # deadline and found nothing to do. Re-read after seeing it finished: it usually resumed the session
            # since `due` was listed.
            attempt = Command.objects.filter(idempotency_key__startswith=auto_resume_key(session_id, deadline)).count()
            submitted += submit_auto_resume(
                ticket_id=ticket_id, session_id=session_id, auto_resume_at=deadline, stored_at=now, attempt=attempt
            )
    if submitted:
        logger.info("auto-resumes submitted by the sweep", extra={"count": submitted})
    return submitted
