"""Work-session steps at an instant, with the process clock frozen there (clock.py), and the pause budget."""

from datetime import date, datetime

from apps.ticket import selectors
from apps.ticket import services_work_session as sessions
from apps.ticket.models import Ticket, WorkSession
from tests.support.clock import at_instant


def pause(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.pause_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def resume(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.resume_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def stop(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.stop_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def budget(technician, day: date, when: datetime) -> selectors.PauseBudget:
    """The technician's pause budget of `day`, read at `when`."""
    return at_instant(when, lambda now: selectors.pause_budget_for(technician_id=technician.pk, day=day, now=now))


def expected_budget(
    technician,
    day: date,
    *,
    used: int,
    remaining: int,
    paused_session=None,
    auto_resume_at: datetime | None = None,
    limit: int = 1800,
    timezone: str = "UTC",
) -> selectors.PauseBudget:
    """The whole PauseBudget a read should return (the default rules unless told: 1800 s a day, UTC)."""
    return selectors.PauseBudget(
        technician_id=technician.pk,
        day=day,
        timezone=timezone,
        limit_seconds=limit,
        used_seconds=used,
        remaining_seconds=remaining,
        paused_session_id=paused_session.pk if paused_session is not None else None,
        auto_resume_at=auto_resume_at,
    )
