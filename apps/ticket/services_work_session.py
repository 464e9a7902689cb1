"""Work-session services: open, pause, resume, stop, and the automatic resume when a pause budget runs out.

A technician's daily pause budget is counted per local day in the rules' time zone, across all their sessions.
On pause the exact instant the budget runs out is stored as `auto_resume_at`; whoever applies the resume (the ETA
job, the sweep, or the technician's next command) records it at that instant, so accounting never depends on how
late the job ran. Budget reads are in `selectors`, the arithmetic in `pause_budget`.
"""

from datetime import datetime, timedelta

from django.db import transaction

from apps.accounts.models import User
from apps.common import time as clock
from apps.common.db import refusing_on_violation
from apps.common.errors import DomainError, ErrorCode
from apps.common.metrics import record_auto_resume_lateness
from apps.common.time import isoformat_utc
from apps.rules.selectors import active_rules
from apps.ticket.followups import schedule_auto_resume
from apps.ticket.locking import (
    lock_open_session_for_technician,
    lock_open_session_of_ticket,
    lock_technician,
    lock_ticket,
)
from apps.ticket.models import REFUSED_BY_GUARD, Guard, SessionStatus, Ticket, WorkSession
from apps.ticket.outcome import TicketOutcome
from apps.ticket.selectors import budget_day_bounds, deadline_for_pause, pauses_from_read

SESSION_FIELDS = ["status", "active_seconds", "auto_resume_at", "ended_at", "updated_at"]
AUTO_RESUME_REASON = "daily_pause_limit_reached"


def apply_due_auto_resume(session: WorkSession, *, at: datetime) -> bool:
    """Resume a paused session whose budget ran out by `at`, recorded at the deadline. Caller holds the locks.

    `at` is the instant the caller acts as of (a command's effective instant): a stop pressed before the deadline
    meets the session still paused, however late it is applied.
    """
    if session.status != SessionStatus.PAUSED or session.auto_resume_at is None or session.auto_resume_at > at:
        return False
    scheduled_for = session.auto_resume_at
    applied_at = clock.database_now()
    session.resume(
        actor=None,
        at=scheduled_for,
        metadata={
            "auto_resumed": True,
            "reason": AUTO_RESUME_REASON,
            "scheduled_for": isoformat_utc(scheduled_for),
            "applied_at": isoformat_utc(applied_at),
        },
    )
    session.save_with_history(update_fields=SESSION_FIELDS)
    lateness = (applied_at - scheduled_for).total_seconds()
    transaction.on_commit(lambda: record_auto_resume_lateness(lateness))
    return True


def open_session(ticket: Ticket, *, technician: User, at: datetime) -> WorkSession:
    """Open a running session for `technician` on `ticket`. Caller holds the ticket and technician locks."""
    session = WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=at)
    if lock_open_session_for_technician(technician.pk) is not None:
        raise DomainError(*REFUSED_BY_GUARD[Guard.ONE_OPEN_SESSION_PER_TECHNICIAN])
    with refusing_on_violation(REFUSED_BY_GUARD):
        session.save_with_history()
    return session


@transaction.atomic
def start_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    """Open a further session on an in-progress ticket (work that spans days)."""
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    lock_technician(actor.pk)
    return TicketOutcome(ticket, open_session(ticket, technician=actor, at=at))


@transaction.atomic
def pause_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket = _lock_assigned_ticket(ticket_id, actor)
    config = active_rules().config.work_session
    day = budget_day_bounds(at, config)
    # The budget's history is read with the session's lock, by that statement's snapshot (taken before any wait
    # for the locks). Nothing can change it meanwhile: every writer of a session's history locks its ticket
    # first (this one is locked), and the technician's other sessions are stopped (one open session per
    # technician, a unique index), so they never change again. This session's own auto-resume, applied under the
    # lock, is taken from the session itself (`pauses_from_read`).
    session = _lock_own_open_session(ticket, actor, at=at, budget_of=(actor.pk, *day))
    if session.status != SessionStatus.RUNNING:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot pause a {session.status} work session")
    pauses = pauses_from_read(session.budget_read, *day, session=session)
    deadline, remaining = deadline_for_pause(technician_id=actor.pk, paused_at=at, config=config, pauses=pauses)
    if remaining <= timedelta(0):
        raise DomainError(ErrorCode.PAUSE_BUDGET_EXHAUSTED, "no pause time is left today")
    session.pause(actor=actor, at=at, auto_resume_at=deadline, remaining_seconds=int(remaining.total_seconds()))
    schedule_auto_resume(session)
    return _saved(ticket, session)


@transaction.atomic
def resume_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket, session = _lock_open_session(ticket_id, actor, at=at)
    session.resume(actor=actor, at=at)
    return _saved(ticket, session)


@transaction.atomic
def stop_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket, session = _lock_open_session(ticket_id, actor, at=at)
    session.stop(actor=actor, at=at)
    return _saved(ticket, session)


@transaction.atomic
def auto_resume_work_session(*, session_id: int, at: datetime) -> TicketOutcome | None:
    """The scheduled enforcement: resume the session at its deadline if it is still paused and due by `at`.

    Idempotent: a session already resumed, stopped or not yet due is left alone (returns None).
    """
    located = WorkSession.domain.alive().filter(pk=session_id).values_list("ticket_id", "technician_id").first()
    if located is None:
        return None
    ticket_id, technician_id = located
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    lock_technician(technician_id)
    session = WorkSession.domain.alive().select_for_update().get(pk=session_id)
    if not apply_due_auto_resume(session, at=at):
        return None
    return TicketOutcome(ticket, session)


def _saved(ticket: Ticket, session: WorkSession) -> TicketOutcome:
    session.save_with_history(update_fields=SESSION_FIELDS)
    return TicketOutcome(ticket, session)


def _lock_open_session(ticket_id: int, actor: User, *, at: datetime) -> tuple[Ticket, WorkSession]:
    ticket = _lock_assigned_ticket(ticket_id, actor)
    return ticket, _lock_own_open_session(ticket, actor, at=at)


def _lock_assigned_ticket(ticket_id: int, actor: User) -> Ticket:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.require_assigned_technician(actor)
    return ticket


def _lock_own_open_session(
    ticket: Ticket, actor: User, *, at: datetime, budget_of: tuple[int, datetime, datetime] | None = None
) -> WorkSession:
    """The ticket's open session, the actor's own, locked with the actor's row (`lock_open_session_of_ticket`,
    which takes `budget_of`); an auto-resume that came due by `at` applied first."""
    session = lock_open_session_of_ticket(ticket.pk, budget_of=budget_of)
    if session is None:
        raise DomainError(ErrorCode.NO_OPEN_SESSION, "the ticket has no open work session")
    if session.technician_id != actor.pk:
        raise DomainError(ErrorCode.NOT_ASSIGNED_TECHNICIAN, "only the session's technician controls it")
    apply_due_auto_resume(session, at=at)
    return session


def settle_due_auto_resumes(*, ticket_id: int, at: datetime) -> int:
    """Apply a due auto-resume of the ticket's session before a command as of `at` touches it: only one whose
    deadline came by `at`. Sessions of other tickets are left to their own lanes.

    Run in its own savepoint ahead of the command, so the resume stands even if the command is then refused.
    """
    due = list(WorkSession.domain.paused_due(at).filter(ticket_id=ticket_id).values_list("pk", flat=True))
    if not due:
        return 0  # the usual case: no savepoint round trips for nothing
    with transaction.atomic():
        return sum(auto_resume_work_session(session_id=session_id, at=at) is not None for session_id in due)
