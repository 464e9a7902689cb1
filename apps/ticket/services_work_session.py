"""Work-session services and the pause-budget rules.

A technician's daily pause budget is counted per local day in the rules' time zone, across all their sessions.
On pause the exact instant the budget runs out is stored as `auto_resume_at`; whoever applies the resume (the ETA
job, the sweep, or the technician's next command) records it at that instant, so accounting never depends on how
late the job ran. The arithmetic itself is pure and lives in `pause_budget`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Q

from apps.accounts.models import User
from apps.common.db import refusing_on_violation
from apps.common.errors import DomainError, ErrorCode
from apps.common.metrics import record_auto_resume_lateness
from apps.common.time import isoformat_utc
from apps.rules.config import WorkSessionConfig
from apps.rules.selectors import active_rules
from apps.ticket import pause_budget
from apps.ticket.locking import lock_open_session_for_technician, lock_technician, lock_ticket
from apps.ticket.models import SessionStatus, Ticket, TicketStatus, WorkSession, WorkSessionTransition
from apps.ticket.outcome import TicketOutcome

SESSION_FIELDS = ["status", "active_seconds", "auto_resume_at", "ended_at", "updated_at"]
AUTO_RESUME_REASON = "daily_pause_limit_reached"

OPEN_SESSION_VIOLATIONS = {
    "work_session_one_open_per_technician": (
        ErrorCode.TECHNICIAN_BUSY,
        "the technician already has an open work session",
    ),
    "work_session_one_open_per_ticket": (
        ErrorCode.TECHNICIAN_BUSY,
        "the ticket already has an open work session",
    ),
}


# --- pause-budget domain math over stored history --------------------------------------------------------


@dataclass(frozen=True)
class PauseBudget:
    technician_id: int
    day: date
    timezone: str
    limit_seconds: int
    used_seconds: int
    remaining_seconds: int
    paused_session_id: int | None
    auto_resume_at: datetime | None


def technician_pauses(technician_id: int, lo: datetime, hi: datetime) -> list[pause_budget.Interval]:
    """Every pause of the technician's sessions that overlaps [lo, hi), open pauses with end=None."""
    session_ids = list(WorkSession.domain.overlapping(technician_id, lo, hi).values_list("pk", flat=True))
    by_session: dict[int, list[pause_budget.Event]] = {}
    for row in WorkSessionTransition.domain.for_sessions(session_ids).only("session_id", "to_status", "event_at"):
        by_session.setdefault(row.session_id, []).append(pause_budget.Event(row.to_status, row.event_at))
    pauses = []
    for events in by_session.values():
        pauses.extend(pause_budget.intervals_in_status(events, SessionStatus.PAUSED))
    return [p for p in pauses if p.start < hi and (p.end is None or p.end > lo)]


def pause_budget_for(*, technician_id: int, day: date, now: datetime) -> PauseBudget:
    """Used and remaining pause time of a technician on a local day, an open pause counted up to `now`."""
    config = active_rules().config.work_session
    lo, hi = pause_budget.local_day_bounds(day, config.zone)
    limit = timedelta(seconds=config.daily_pause_limit_seconds)
    used = pause_budget.used_in_day(technician_pauses(technician_id, lo, hi), day, config.zone, now=now)
    paused = WorkSession.domain.paused().filter(technician_id=technician_id).first()
    return PauseBudget(
        technician_id=technician_id,
        day=day,
        timezone=config.timezone,
        limit_seconds=config.daily_pause_limit_seconds,
        used_seconds=int(min(used, limit).total_seconds()),
        remaining_seconds=int(max(limit - used, timedelta(0)).total_seconds()),
        paused_session_id=paused.pk if paused else None,
        auto_resume_at=paused.auto_resume_at if paused else None,
    )


def deadline_for_pause(
    *, technician_id: int, paused_at: datetime, config: WorkSessionConfig
) -> tuple[datetime, timedelta]:
    """(the instant a pause starting at `paused_at` exhausts the budget, what was left when it started)."""
    zone = config.zone
    day = pause_budget.local_day_of(paused_at, zone)
    lo, hi = pause_budget.local_day_bounds(day, zone)
    earlier = [p for p in technician_pauses(technician_id, lo, hi) if p.end is not None and p.end <= paused_at]
    limit = timedelta(seconds=config.daily_pause_limit_seconds)
    remaining = pause_budget.remaining_in_day(earlier, day, zone, limit=limit, now=paused_at)
    deadline = pause_budget.exhaustion_instant(paused_at=paused_at, limit=limit, zone=zone, earlier_pauses=earlier)
    return deadline, remaining


def apply_due_auto_resume(session: WorkSession, *, now: datetime) -> bool:
    """Resume a paused session whose budget ran out by `now`, recorded at the deadline. Caller holds the locks."""
    if session.status != SessionStatus.PAUSED or session.auto_resume_at is None or session.auto_resume_at > now:
        return False
    scheduled_for = session.auto_resume_at
    session.resume(
        actor=None,
        at=scheduled_for,
        metadata={
            "auto_resumed": True,
            "reason": AUTO_RESUME_REASON,
            "scheduled_for": isoformat_utc(scheduled_for),
            "applied_at": isoformat_utc(now),
        },
    )
    session.save_with_history(update_fields=SESSION_FIELDS)
    lateness = (now - scheduled_for).total_seconds()
    transaction.on_commit(lambda: record_auto_resume_lateness(lateness))
    return True


# --- services ----------------------------------------------------------------------------------------


def open_first_session(ticket: Ticket, *, technician: User, at: datetime) -> WorkSession:
    """Open a running session for `technician` on `ticket`. Caller holds the ticket and technician locks."""
    current = lock_open_session_for_technician(technician.pk)
    if current is not None:
        raise DomainError(*OPEN_SESSION_VIOLATIONS["work_session_one_open_per_technician"])
    session = WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=at)
    with refusing_on_violation(OPEN_SESSION_VIOLATIONS):
        session.save_with_history()
    return session


@transaction.atomic
def start_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    """Open a further session on an in-progress ticket (work that spans days)."""
    ticket = lock_ticket(ticket_id)
    _require_assigned(ticket, actor)
    if ticket.status != TicketStatus.IN_PROGRESS:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot open a work session on a {ticket.status} ticket")
    lock_technician(actor.pk)
    return TicketOutcome(ticket, open_first_session(ticket, technician=actor, at=at))


@transaction.atomic
def pause_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket, session = _lock_open_session(ticket_id, actor, at=at)
    if session.status != SessionStatus.RUNNING:
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot pause a {session.status} work session")
    config = active_rules().config.work_session
    deadline, remaining = deadline_for_pause(technician_id=actor.pk, paused_at=at, config=config)
    if remaining <= timedelta(0):
        raise DomainError(ErrorCode.PAUSE_BUDGET_EXHAUSTED, "no pause time is left today")
    session.pause(actor=actor, at=at, auto_resume_at=deadline, remaining_seconds=int(remaining.total_seconds()))
    session.save_with_history(update_fields=SESSION_FIELDS)
    _schedule_auto_resume(session)
    return TicketOutcome(ticket, session)


@transaction.atomic
def resume_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket, session = _lock_open_session(ticket_id, actor, at=at)
    session.resume(actor=actor, at=at)
    session.save_with_history(update_fields=SESSION_FIELDS)
    return TicketOutcome(ticket, session)


@transaction.atomic
def stop_work_session(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket, session = _lock_open_session(ticket_id, actor, at=at)
    session.stop(actor=actor, at=at)
    session.save_with_history(update_fields=SESSION_FIELDS)
    return TicketOutcome(ticket, session)


@transaction.atomic
def auto_resume_work_session(*, session_id: int, now: datetime) -> TicketOutcome | None:
    """The scheduled enforcement: resume the session at its deadline if it is still paused and due.

    Idempotent: a session already resumed, stopped or not yet due is left alone (returns None).
    """
    located = WorkSession.domain.alive().filter(pk=session_id).values_list("ticket_id", "technician_id").first()
    if located is None:
        return None
    ticket_id, technician_id = located
    ticket = lock_ticket(ticket_id)
    lock_technician(technician_id)
    session = WorkSession.domain.alive().select_for_update().get(pk=session_id)
    if not apply_due_auto_resume(session, now=now):
        return None
    return TicketOutcome(ticket, session)


def _lock_open_session(ticket_id: int, actor: User, *, at: datetime) -> tuple[Ticket, WorkSession]:
    ticket = lock_ticket(ticket_id)
    _require_assigned(ticket, actor)
    lock_technician(actor.pk)
    session = WorkSession.domain.open_for_ticket(ticket.pk).select_for_update().first()
    if session is None:
        raise DomainError(ErrorCode.NO_OPEN_SESSION, "the ticket has no open work session")
    if session.technician_id != actor.pk:
        raise DomainError(ErrorCode.NOT_ASSIGNED_TECHNICIAN, "only the session's technician controls it")
    apply_due_auto_resume(session, now=at)
    return ticket, session


def _require_assigned(ticket: Ticket, actor: User) -> None:
    if actor is None or ticket.technician_id != actor.pk:
        raise DomainError(ErrorCode.NOT_ASSIGNED_TECHNICIAN, "only the assigned technician may do this")


def _schedule_auto_resume(session: WorkSession) -> None:
    """Hook for the scheduled enforcement (ETA job); the database row is the source of truth either way."""
    from apps.ticket.followups import schedule_auto_resume

    schedule_auto_resume(session)


def recompute_pause_deadlines(*, changed_at: datetime, batch_size: int = 500) -> int:
    """Re-derive `auto_resume_at` of every paused session under the active rules, and reschedule it.

    A new deadline is never earlier than `changed_at`: a rules change does not penalise a pause retroactively.
    Nor does it revive one: a pause whose budget ran out by `changed_at` keeps its deadline and is resumed there.
    One short transaction per session, locking only that session row. Returns how many deadlines moved.
    """
    config = active_rules().config.work_session
    moved, after = 0, 0
    while True:
        batch = list(
            WorkSession.domain.paused().filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return moved
        for session_id in batch:
            moved += _recompute_deadline(session_id, config=config, changed_at=changed_at)
        after = batch[-1]


@transaction.atomic
def _recompute_deadline(session_id: int, *, config: WorkSessionConfig, changed_at: datetime) -> bool:
    session = WorkSession.domain.paused().select_for_update().filter(pk=session_id).first()
    if session is None:
        return False  # resumed or stopped meanwhile
    if session.auto_resume_at <= changed_at:
        # Already due under the rules in force then; moving it would make accounting depend on job lateness.
        return False
    paused_at = session.history()[-1].event_at
    deadline, _ = deadline_for_pause(technician_id=session.technician_id, paused_at=paused_at, config=config)
    deadline = max(deadline, changed_at)
    if deadline == session.auto_resume_at:
        return False
    session.auto_resume_at = deadline
    session.save(update_fields=["auto_resume_at"])
    _schedule_auto_resume(session)
    return True


def settle_due_auto_resumes(*, ticket_id: int, technician_id: int | None, now: datetime) -> int:
    """Apply any due auto-resume of the ticket's session or the technician's before a command touches them.

    Run in its own savepoint ahead of the command, so the resume stands even if the command is then refused.
    """
    touched = Q(ticket_id=ticket_id) | Q(technician_id=technician_id) if technician_id else Q(ticket_id=ticket_id)
    due = list(WorkSession.domain.paused_due(now).filter(touched).values_list("pk", flat=True))
    if not due:
        return 0  # the usual case: no savepoint round trips for nothing
    with transaction.atomic():
        return sum(auto_resume_work_session(session_id=session_id, now=now) is not None for session_id in due)
