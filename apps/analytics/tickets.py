"""Ticket figures over a range, from the ticket histories: counts, flags, QC outcomes, stage cycle times, per day.

Stage times come from `analytics_ticket_done`, one row per done ticket that PostgreSQL derives from its history
when the QC pass is written (migration 0002_read_models_from_histories): on a done ticket every `started` was
closed by a `to_waiting_qc` and every `to_waiting_qc` by a decision (the state machine alternates them), so a
round's time is a difference of sums, with no window over the rows.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.analytics.ranges import DayRange
from apps.analytics.sql import reading
from apps.ticket.models import FlagColor, TicketStatus

STAGES = ("review", "assignment", "start", "work", "qc", "total")
STAGES_DESCRIPTION = (
    "Cycle times, over the tickets done in the range: review (created → review_approved), assignment (→ the first "
    "assigned) and start (→ the first started) are measured once, on the way in; work (started → to_waiting_qc) and "
    "qc (to_waiting_qc → the QC decision) add up every round, rework included; total is created → done. p50 and p90 "
    "interpolate between the nearest values (percentile_cont)."
)

# One row per done ticket, its stage seconds derived from its history by PostgreSQL (read_models.py).
CYCLES_SQL = """
SELECT COUNT(*), COUNT(*) FILTER (WHERE first_pass),
       {percentiles}
FROM analytics_ticket_done
WHERE done_at >= %(lo)s AND done_at < %(hi)s
"""
PERCENTILES = ",\n       ".join(
    f"COUNT({stage}_seconds), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {stage}_seconds)"
    for stage in STAGES
)

BY_STATUS_SQL = "SELECT status, COUNT(*) FROM ticket WHERE deleted_at IS NULL GROUP BY status"

# Each day's tickets created, by their flag now: one pass over the range (the covering index ticket_created_idx);
# the range's totals are their sums.
CREATED_PER_DAY_SQL = """
SELECT d.day, t.flag_color, COUNT(t.flag_color)
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
LEFT JOIN ticket AS t ON t.deleted_at IS NULL AND t.created_at >= d.starts AND t.created_at < d.ends
GROUP BY d.day, t.flag_color
"""

# Each day's QC decisions, passes (tickets done) and fails, summed from the quarter hours inside it
# (`analytics_ticket_quarter`, migration 0003_ticket_quarters): a few rows a day, whatever the day's traffic.
QUARTERS_PER_DAY_SQL = """
SELECT d.day, COALESCE(SUM(q.qc_passes), 0), COALESCE(SUM(q.qc_fails), 0)
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
LEFT JOIN analytics_ticket_quarter AS q ON q.quarter >= d.starts AND q.quarter < d.ends
GROUP BY d.day
ORDER BY d.day
"""
QUARTER = timedelta(minutes=15)

# The same from the history, for days that are not runs of whole quarter hours (a zone whose offset is not, as in
# its distant past), counted from ticket_transition_qc_idx.
DECISIONS_PER_DAY_SQL = """
SELECT d.day,
       (SELECT COUNT(*) FROM ticket_transition AS q
        WHERE q.action = 'qc_pass' AND q.created_at >= d.starts AND q.created_at < d.ends),
       (SELECT COUNT(*) FROM ticket_transition AS q
        WHERE q.action = 'qc_fail' AND q.created_at >= d.starts AND q.created_at < d.ends)
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
ORDER BY d.day
"""

FIRST_PASS_PER_DAY_SQL = """
SELECT d.day, COUNT(p.pass_id), COUNT(p.pass_id) FILTER (WHERE p.first_pass)
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
LEFT JOIN analytics_ticket_done AS p ON p.done_at >= d.starts AND p.done_at < d.ends
GROUP BY d.day
ORDER BY d.day
"""


@dataclass(frozen=True)
class Cycle:
    n: int
    p50: float | None  # percentile_cont: interpolated between the two nearest
    p90: float | None


@dataclass(frozen=True)
class TicketFigures:
    created: int
    done: int
    by_status: dict[str, int]
    by_flag: dict[str, int]
    first_pass_rate: float | None
    rework_rate: float | None  # the share of the range's QC decisions that sent the ticket to rework
    cycle_seconds: dict[str, Cycle]
    per_day: list[tuple]  # (date, created, done)


def tickets_summary(span: DayRange) -> TicketFigures:
    bounds = {"lo": span.start, "hi": span.end}
    with reading() as cursor:
        cursor.execute(CYCLES_SQL.format(percentiles=PERCENTILES), bounds)
        done_tickets, first_pass, *cycles = cursor.fetchone()
        cursor.execute(BY_STATUS_SQL)
        by_status = dict(cursor.fetchall())
        cursor.execute(CREATED_PER_DAY_SQL, span.bounds_params())
        created_by_day_and_flag = cursor.fetchall()
        whole_quarters = all(_whole_quarter(day.start) and _whole_quarter(day.end) for day in span.days)
        cursor.execute(QUARTERS_PER_DAY_SQL if whole_quarters else DECISIONS_PER_DAY_SQL, span.bounds_params())
        decisions = cursor.fetchall()
    created_on, by_flag = defaultdict(int), dict.fromkeys(FlagColor.values, 0)
    for day, flag, n in created_by_day_and_flag:
        created_on[day] += n
        if flag is not None:
            by_flag[flag] += n
    done = sum(passed for _day, passed, _failed in decisions)
    failed = sum(fails for _day, _passed, fails in decisions)
    per_day = [(day, created_on[day], passed) for day, passed, _failed in decisions]
    return TicketFigures(
        created=sum(created_on.values()),
        done=done,
        by_status={status: by_status.get(status, 0) for status in TicketStatus.values},
        by_flag=by_flag,
        first_pass_rate=first_pass / done_tickets if done_tickets else None,
        rework_rate=failed / (done + failed) if done + failed else None,
        cycle_seconds={stage: _cycle(cycles[2 * i], cycles[2 * i + 1]) for i, stage in enumerate(STAGES)},
        per_day=per_day,
    )


def _whole_quarter(instant: datetime) -> bool:
    """Whether `instant` starts a quarter hour of `analytics_quarter` (aligned to UTC)."""
    return (instant.astimezone(UTC) - datetime(2001, 1, 1, tzinfo=UTC)) % QUARTER == timedelta(0)


def _cycle(n: int, percentiles: list[float] | None) -> Cycle:
    """`percentiles` is [p50, p90], or NULL over no values."""
    p50, p90 = percentiles or (None, None)
    return Cycle(n=n, p50=_seconds(p50), p90=_seconds(p90))


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def first_pass_per_day(span: DayRange) -> list[tuple]:
    """(date, tickets done, of which never failed QC) for every day of the range."""
    with reading() as cursor:
        cursor.execute(FIRST_PASS_PER_DAY_SQL, span.bounds_params())
        return cursor.fetchall()
