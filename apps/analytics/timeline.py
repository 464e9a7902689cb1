"""Work-session timelines: the intervals each session spent running or paused, read from its transition history
(a window over the transitions), and a technician's days cut from them with the pause budget's own code.

A pause whose budget ran out before the read but whose automatic resume no worker has applied yet ends at its
deadline here, as it will be recorded: a read never counts a pause the budget does not allow.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.analytics.ranges import DayRange, pause_limits
from apps.analytics.sql import reading
from apps.ticket import pause_budget

ZERO = timedelta(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def steps_sql(which: str) -> str:
    """The running and paused intervals of the sessions alive in [%(lo)s, %(hi)s) that match `which` (a condition
    on `ws`, the work_session row), an open one with `end_at` NULL (counted up to %(now)s by the caller)."""
    return f"""
    WITH sessions AS (
        SELECT ws.id, ws.ticket_id, ws.technician_id, ws.status, ws.auto_resume_at
        FROM work_session AS ws
        WHERE ws.deleted_at IS NULL AND ws.started_at < %(hi)s AND (ws.ended_at IS NULL OR ws.ended_at > %(lo)s)
          AND ({which})
    ),
    recorded AS (
        SELECT s.id AS session_id, s.ticket_id, s.technician_id, t.to_status AS status, t.event_at AS start_at,
               LEAD(t.event_at) OVER (PARTITION BY t.session_id ORDER BY t.event_at, t.id) AS end_at,
               (t.action = 'resumed' AND t.metadata ->> 'auto_resumed' = 'true') AS auto_resumed,
               s.status AS session_status, s.auto_resume_at
        FROM sessions AS s
        JOIN work_session_transition AS t ON t.session_id = s.id
    )
    SELECT session_id, ticket_id, technician_id, status, start_at,
           COALESCE(end_at, CASE WHEN session_status = 'paused' AND auto_resume_at <= %(now)s
                                 THEN auto_resume_at END) AS end_at,
           auto_resumed
    FROM recorded
    WHERE status <> 'stopped'
    UNION ALL
    SELECT id, ticket_id, technician_id, 'running', auto_resume_at, NULL, true
    FROM sessions
    WHERE status = 'paused' AND auto_resume_at <= %(now)s
    """


@dataclass(frozen=True)
class Step:
    session_id: int
    ticket_id: int
    technician_id: int
    status: str  # running | paused
    interval: pause_budget.Interval
    auto_resumed: bool  # this running interval began with an automatic resume


@dataclass(frozen=True)
class Piece:
    """A step clipped to one local day."""

    status: str
    interval: pause_budget.Interval
    ticket_id: int
    work_session_id: int


@dataclass(frozen=True)
class Day:
    day: pause_budget.LocalDay
    active: timedelta
    paused: timedelta
    pause_limit_seconds: int
    auto_resumes: list[datetime]  # the instants of the day's automatic resumes
    intervals: list[Piece]


def steps_in(lo: datetime, hi: datetime, *, now: datetime, technician_id: int | None = None) -> list[Step]:
    """The steps of the sessions alive in [lo, hi): one technician's, or everyone's."""
    which = "true" if technician_id is None else "ws.technician_id = %(technician)s"
    params = {"technician": technician_id, "lo": lo, "hi": hi, "now": now}
    # The instants as whole microseconds since the epoch (exact): a month's thousands of steps parse as integers in
    # a fraction of the time the driver takes to parse timestamp text.
    sql = f"""
    SELECT session_id, ticket_id, technician_id, status, {_micros("start_at")}, {_micros("end_at")}, auto_resumed
    FROM ({steps_sql(which)}) AS steps
    ORDER BY start_at, session_id
    """
    with reading() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Step(session, ticket, technician, status, pause_budget.Interval(_instant(start), _instant(end)), bool(auto))
        for session, ticket, technician, status, start, end, auto in rows
    ]


def _micros(column: str) -> str:
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


def _instant(micros: int | None) -> datetime | None:
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def technician_days(technician_id: int, span: DayRange, *, now: datetime) -> list[Day]:
    """Every day of the range, zeros included: the technician's running and paused time cut at the day's bounds."""
    steps = steps_in(span.start, span.end, now=now, technician_id=technician_id)
    limits = pause_limits(span.days)
    buckets = _by_day(span.days, steps, now=now)
    return [cut_day(day, limit, bucket, now=now) for day, limit, bucket in zip(span.days, limits, buckets, strict=True)]


def _by_day(days: list[pause_budget.LocalDay], steps: list[Step], *, now: datetime) -> list[list[Step]]:
    """Each day's steps: a step goes to the day it starts in and every later day it reaches (a step rarely spans
    more than two), so cutting a long range costs what its steps cost, not days x steps."""
    ends = [day.end for day in days]
    buckets: list[list[Step]] = [[] for _ in days]
    for step in steps:
        end = step.interval.end or now
        first = index = bisect_right(ends, step.interval.start)
        while index < len(days) and (index == first or days[index].start < end):
            buckets[index].append(step)
            index += 1
    return buckets


def cut_day(day: pause_budget.LocalDay, limit: int, steps: list[Step], *, now: datetime) -> Day:
    """The part of `steps` inside the local day (Interval.clipped: the pause budget's own cut)."""
    pieces = []
    for step in steps:
        clipped = step.interval.clipped(day.start, day.end, now=now)
        if clipped is not None:
            pieces.append(Piece(step.status, clipped, step.ticket_id, step.session_id))
    return Day(
        day=day,
        active=_total(pieces, "running"),
        paused=_total(pieces, "paused"),
        pause_limit_seconds=limit,
        auto_resumes=[s.interval.start for s in steps if s.auto_resumed and day.start <= s.interval.start < day.end],
        intervals=pieces,
    )


def _total(pieces: list[Piece], status: str) -> timedelta:
    return pause_budget.total_duration(p.interval for p in pieces if p.status == status)
