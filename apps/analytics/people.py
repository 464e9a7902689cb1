"""Per-person figures over a range: the technicians' summary and the XP leaderboard, each one SQL statement.

Running and paused seconds are clipped to the range: a session stopped inside the range counts whole from its stored
figures (its `active_seconds`, re-derived from its history at every step; the rest of its span was paused), and only
the few sessions crossing the range's start or end, or still open, are cut from their transitions (timeline.py).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.analytics.ranges import DayRange
from apps.analytics.read_models import PERSON_SQL, person_params
from apps.analytics.sql import reading
from apps.analytics.timeline import steps_sql

# Sessions that cross the range's start or end, or are open (their span reaches past any end): the GiST index on
# the span finds the few that contain either instant.
CROSSING = (
    "(ws.started_at < %(lo)s AND tstzrange(ws.started_at, ws.ended_at) @> %(lo)s::timestamptz)"
    " OR tstzrange(ws.started_at, ws.ended_at) @> %(hi)s::timestamptz"
)

TECHNICIANS_SQL = f"""
WITH crossing AS (
    SELECT technician_id, status, session_id,
           EXTRACT(EPOCH FROM GREATEST(LEAST(COALESCE(end_at, %(now)s), %(hi)s) - GREATEST(start_at, %(lo)s),
                                       interval '0')) AS seconds
    FROM ({steps_sql(CROSSING)}) AS steps
),
crossing_totals AS (
    SELECT technician_id,
           COALESCE(SUM(seconds) FILTER (WHERE status = 'running'), 0) AS active,
           COALESCE(SUM(seconds) FILTER (WHERE status = 'paused'), 0) AS paused,
           COUNT(DISTINCT session_id) AS sessions
    FROM crossing
    GROUP BY technician_id
),
inside AS (
    -- The spans summed as intervals and turned to seconds once: the same exact value as summing each one's seconds
    -- (no months in a difference of instants), without a numeric conversion per session.
    SELECT technician_id, SUM(active_seconds) AS active,
           EXTRACT(EPOCH FROM SUM(ended_at - started_at)) - SUM(active_seconds) AS paused, COUNT(*) AS sessions
    FROM work_session
    WHERE deleted_at IS NULL AND started_at >= %(lo)s AND ended_at <= %(hi)s AND ended_at > %(lo)s
    GROUP BY technician_id
),
auto_resumes AS (
    SELECT technician_id, COUNT(*) AS n FROM (
        -- The session by its key (NULL if deleted: a group no one joins), not a hash of every session ever.
        SELECT (SELECT ws.technician_id FROM work_session AS ws WHERE ws.id = t.session_id AND ws.deleted_at IS NULL)
        FROM work_session_transition AS t
        WHERE t.action = 'resumed' AND t.metadata ->> 'auto_resumed' = 'true'
          AND t.event_at >= %(lo)s AND t.event_at < %(hi)s
        UNION ALL  -- due, and recorded at its deadline once a worker applies it
        SELECT technician_id
        FROM work_session
        WHERE deleted_at IS NULL AND status = 'paused' AND auto_resume_at <= %(now)s
          AND auto_resume_at >= %(lo)s AND auto_resume_at < %(hi)s
    ) AS resumes
    GROUP BY technician_id
),
figures AS ({PERSON_SQL}),
people AS (
    SELECT id AS technician_id FROM accounts_user WHERE 'technician' = ANY (roles)
    UNION SELECT technician_id FROM crossing_totals
    UNION SELECT technician_id FROM inside
    UNION SELECT user_id FROM figures WHERE tickets_done > 0 OR qc_fails > 0
)
SELECT people.technician_id,
       COALESCE(crossing_totals.active, 0) + COALESCE(inside.active, 0),
       COALESCE(crossing_totals.paused, 0) + COALESCE(inside.paused, 0),
       COALESCE(auto_resumes.n, 0),
       COALESCE(crossing_totals.sessions, 0) + COALESCE(inside.sessions, 0),
       COALESCE(figures.tickets_done, 0),
       COALESCE(figures.first_pass, 0),
       COALESCE(figures.qc_fails, 0),
       COALESCE(figures.xp, 0)
FROM people
LEFT JOIN crossing_totals USING (technician_id)
LEFT JOIN inside USING (technician_id)
LEFT JOIN auto_resumes USING (technician_id)
LEFT JOIN figures ON figures.user_id = people.technician_id
WHERE people.technician_id IS NOT NULL
ORDER BY people.technician_id
"""

LEADERBOARD_SQL = f"""
SELECT user_id, xp, tickets_done, first_pass
FROM ({PERSON_SQL}) AS figures
WHERE xp > 0
ORDER BY xp DESC, user_id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class TechnicianFigures:
    technician_id: int
    active_seconds: Decimal
    paused_seconds: Decimal
    auto_resumes: int
    sessions: int
    tickets_done: int
    first_pass_rate: float | None
    qc_fails: int
    xp: int


@dataclass(frozen=True)
class LeaderboardEntry:
    technician_id: int
    xp: int
    tickets_done: int
    first_pass_rate: float | None


def technicians_summary(span: DayRange, *, now: datetime) -> list[TechnicianFigures]:
    """Every technician (and anyone who worked, finished or failed a ticket in the range), by id."""
    rows = _rows(TECHNICIANS_SQL, {**person_params(span.start, span.end), "now": now})
    return [
        TechnicianFigures(
            technician_id=technician,
            active_seconds=Decimal(active),
            paused_seconds=Decimal(paused),
            auto_resumes=auto,
            sessions=sessions,
            tickets_done=done,
            first_pass_rate=share(first_pass, done),
            qc_fails=fails,
            xp=xp,
        )
        for technician, active, paused, auto, sessions, done, first_pass, fails, xp in rows
    ]


def leaderboard(span: DayRange, *, limit: int) -> list[LeaderboardEntry]:
    """Everyone who earned XP in the range, most first (ties by id)."""
    rows = _rows(LEADERBOARD_SQL, {**person_params(span.start, span.end), "limit": limit})
    return [
        LeaderboardEntry(technician_id=user, xp=xp, tickets_done=done, first_pass_rate=share(first_pass, done))
        for user, xp, done, first_pass in rows
    ]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _rows(sql: str, params: dict) -> list[tuple]:
    with reading() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
