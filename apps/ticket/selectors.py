"""Reads over the stored histories: a technician's pause budget (the arithmetic is in `pause_budget`). The latest
instant recorded on a ticket is read with the command applied to it (apps/commands/inbox.py)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from apps.rules.config import WorkSessionConfig
from apps.rules.selectors import active_rules
from apps.ticket import pause_budget
from apps.ticket.models import SessionStatus, WorkSession, WorkSessionTransition


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
    sessions = WorkSession.domain.overlapping(technician_id, lo, hi).values("pk")
    by_session: dict[int, list[pause_budget.Event]] = {}
    rows = WorkSessionTransition.domain.for_sessions(sessions).values_list("session_id", "to_status", "event_at")
    for session_id, to_status, event_at in rows:  # one statement: the sessions are a subquery
        by_session.setdefault(session_id, []).append(pause_budget.Event(to_status, event_at))
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


def deadline_after_rules_change(
    *, technician_id: int, paused_at: datetime, changed_at: datetime, config: WorkSessionConfig
) -> datetime:
    """The deadline a rules change at `changed_at` gives a pause running since `paused_at`: never before the change.

    From the change on, the pause runs under `config` as if it began then, its time before the change counted as
    pause taken on the days it fell on. A budget that ran out before the change is not charged back: the pause runs
    on what the change's local day has left (after a midnight, the new day's limit less the pause since then), and
    resumes at the change if that is nothing.
    """
    if changed_at <= paused_at:
        return deadline_for_pause(technician_id=technician_id, paused_at=paused_at, config=config)[0]
    zone = config.zone
    lo, hi = pause_budget.local_day_bounds(pause_budget.local_day_of(changed_at, zone), zone)
    earlier = [p for p in technician_pauses(technician_id, lo, hi) if p.end is not None and p.end <= paused_at]
    so_far = pause_budget.Interval(paused_at, changed_at)
    return pause_budget.exhaustion_instant(
        paused_at=changed_at,
        limit=timedelta(seconds=config.daily_pause_limit_seconds),
        zone=zone,
        earlier_pauses=[*earlier, so_far],
    )
