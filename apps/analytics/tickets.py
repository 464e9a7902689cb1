"""Ticket figures over a range, from the ticket histories: counts, flags, QC outcomes, stage cycle times, per day.

On a done ticket every `started` was closed by a `to_waiting_qc` and every `to_waiting_qc` by a decision (the
state machine alternates them), so a round's time is a difference of sums, with no window over the rows. Tickets
are never deleted (their histories are append-only), so the histories alone are read.
"""

from dataclasses import dataclass

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

CYCLES_SQL = """
WITH done AS (
    SELECT ticket_id
    FROM ticket_transition
    WHERE action = 'qc_pass' AND created_at >= %(lo)s AND created_at < %(hi)s
),
per_ticket AS (  -- one index-only read of each done ticket's history (ticket_transition_timeline_idx)
    SELECT history.*
    FROM done
    CROSS JOIN LATERAL (
        SELECT bool_or(h.action = 'qc_fail') AS failed,
               MIN(h.created_at) FILTER (WHERE h.action = 'created') AS created,
               MIN(h.created_at) FILTER (WHERE h.action = 'review_approved') AS approved,
               MIN(h.created_at) FILTER (WHERE h.action = 'assigned') AS assigned,
               MIN(h.created_at) FILTER (WHERE h.action = 'started') AS started,
               MAX(h.created_at) FILTER (WHERE h.action = 'qc_pass') AS passed,
               -- Differences of sums, each instant taken from one fixed one so the sums stay exact intervals.
               SUM(CASE h.action WHEN 'to_waiting_qc' THEN h.created_at - %(lo)s
                                 WHEN 'started' THEN %(lo)s - h.created_at END) AS work,
               SUM(CASE WHEN h.action IN ('qc_pass', 'qc_fail') THEN h.created_at - %(lo)s
                        WHEN h.action = 'to_waiting_qc' THEN %(lo)s - h.created_at END) AS qc
        FROM ticket_transition AS h
        WHERE h.ticket_id = done.ticket_id
    ) AS history
),
stages AS (
    SELECT failed,
           EXTRACT(EPOCH FROM approved - created) AS review,
           EXTRACT(EPOCH FROM assigned - approved) AS assignment,
           EXTRACT(EPOCH FROM started - assigned) AS start,
           EXTRACT(EPOCH FROM work) AS work,
           EXTRACT(EPOCH FROM qc) AS qc,
           EXTRACT(EPOCH FROM passed - created) AS total
    FROM per_ticket
)
SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT failed),
       {percentiles}
FROM stages
"""
PERCENTILES = ",\n       ".join(
    f"COUNT({stage}), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {stage})" for stage in STAGES
)

COUNTS_SQL = """
SELECT
    (SELECT COUNT(*) FROM ticket WHERE deleted_at IS NULL AND created_at >= %(lo)s AND created_at < %(hi)s),
    (SELECT COUNT(*) FROM ticket_transition WHERE action = 'qc_pass' AND created_at >= %(lo)s AND created_at < %(hi)s),
    (SELECT COUNT(*) FROM ticket_transition WHERE action = 'qc_fail' AND created_at >= %(lo)s AND created_at < %(hi)s)
"""

BY_STATUS_SQL = "SELECT status, COUNT(*) FROM ticket WHERE deleted_at IS NULL GROUP BY status"

BY_FLAG_SQL = """
SELECT flag_color, COUNT(*) FROM ticket
WHERE deleted_at IS NULL AND created_at >= %(lo)s AND created_at < %(hi)s
GROUP BY flag_color
"""

PER_DAY_SQL = """
SELECT d.day,
       (SELECT COUNT(*) FROM ticket AS t
        WHERE t.deleted_at IS NULL AND t.created_at >= d.starts AND t.created_at < d.ends),
       (SELECT COUNT(*) FROM ticket_transition AS p
        WHERE p.action = 'qc_pass' AND p.created_at >= d.starts AND p.created_at < d.ends)
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
ORDER BY d.day
"""

FIRST_PASS_PER_DAY_SQL = """
SELECT d.day, COUNT(p.id),
       COUNT(p.id) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM ticket_transition AS f WHERE f.ticket_id = p.ticket_id AND f.action = 'qc_fail'
       ))
FROM unnest(%(days)s::date[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS d (day, starts, ends)
LEFT JOIN ticket_transition AS p ON p.action = 'qc_pass' AND p.created_at >= d.starts AND p.created_at < d.ends
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
        cursor.execute(COUNTS_SQL, bounds)
        created, done, failed = cursor.fetchone()
        cursor.execute(CYCLES_SQL.format(percentiles=PERCENTILES), bounds)
        done_tickets, first_pass, *cycles = cursor.fetchone()
        cursor.execute(BY_STATUS_SQL)
        by_status = dict(cursor.fetchall())
        cursor.execute(BY_FLAG_SQL, bounds)
        by_flag = dict(cursor.fetchall())
        cursor.execute(PER_DAY_SQL, span.bounds_params())
        per_day = cursor.fetchall()
    return TicketFigures(
        created=created,
        done=done,
        by_status={status: by_status.get(status, 0) for status in TicketStatus.values},
        by_flag={color: by_flag.get(color, 0) for color in FlagColor.values},
        first_pass_rate=first_pass / done_tickets if done_tickets else None,
        rework_rate=failed / (done + failed) if done + failed else None,
        cycle_seconds={stage: _cycle(cycles[2 * i], cycles[2 * i + 1]) for i, stage in enumerate(STAGES)},
        per_day=per_day,
    )


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
