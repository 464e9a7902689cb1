"""Reads over the stored histories: a technician's pause budget (the arithmetic is in `pause_budget`). The latest
instant recorded on a ticket is read with the command applied to it (apps/commands/inbox.py)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models.functions import JSONObject

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
    rows = _pause_history(technician_id, lo, hi).values_list("session_id", "to_status", "event_at")
    return _pauses_of(_events_by_session(rows), lo, hi)  # one statement: the sessions are a subquery


def pause_history_as_read(technician_id: int, lo: datetime, hi: datetime) -> ArraySubquery:
    """The history `technician_pauses` reads, as JSON objects, to read with another statement (the session's lock,
    for a pause); `pauses_from_read` turns it into the same pauses."""
    fields = ("session_id", "to_status", "event_at")
    return ArraySubquery(_pause_history(technician_id, lo, hi).values(row=JSONObject(**{f: f for f in fields})))


def pauses_from_read(
    read: list[dict], lo: datetime, hi: datetime, *, session: WorkSession
) -> list[pause_budget.Interval]:
    """`technician_pauses` from `pause_history_as_read`, read with `session`'s lock: the session's own history is
    taken as it stands now, with any change made to it since the read (an auto-resume applied under the lock)."""
    rows = [(row["session_id"], row["to_status"], datetime.fromisoformat(row["event_at"])) for row in read]
    by_session = _events_by_session(rows)
    by_session[session.pk] = session.events()
    return _pauses_of(by_session, lo, hi)


def _pause_history(technician_id: int, lo: datetime, hi: datetime):
    sessions = WorkSession.domain.overlapping(technician_id, lo, hi).values("pk")
    return WorkSessionTransition.domain.for_sessions(sessions)


def _events_by_session(rows: Iterable[tuple[int, str, datetime]]) -> dict[int, list[pause_budget.Event]]:
    by_session: dict[int, list[pause_budget.Event]] = {}
    for session_id, to_status, event_at in rows:
        by_session.setdefault(session_id, []).append(pause_budget.Event(to_status, event_at))
    return by_session


def _pauses_of(by_session: dict[int, list[pause_budget.Event]], lo: datetime, hi: datetime):
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


def budget_day_bounds(at: datetime, config: WorkSessionConfig) -> tuple[datetime, datetime]:
    """[start, end) of the local day whose pause budget a pause at `at` spends."""
    return pause_budget.local_day_bounds(pause_budget.local_day_of(at, config.zone), config.zone)


def deadline_for_pause(
    *,
    technician_id: int,
    paused_at: datetime,
    config: WorkSessionConfig,
    pauses: list[pause_budget.Interval] | None = None,
) -> tuple[datetime, timedelta]:
    """(the instant a pause starting at `paused_at` exhausts the budget, what was left when it started).

    `pauses`: the technician's pauses over `budget_day_bounds(paused_at)`, if already read (`pauses_from_read`).
    """
    zone = config.zone
    day = pause_budget.local_day_of(paused_at, zone)
    lo, hi = budget_day_bounds(paused_at, config)
    if pauses is None:
        pauses = technician_pauses(technician_id, lo, hi)
    earlier = [p for p in pauses if p.end is not None and p.end <= paused_at]
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
