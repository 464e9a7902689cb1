"""Per-person figures over a range: the technicians' summary and the XP leaderboard, each one SQL statement.

Running and paused seconds are clipped to the range: a session stopped inside the range counts whole from its stored
figures (its `active_seconds`, re-derived from its history at every step; the rest of its span was paused), and only
the few sessions crossing the range's start or end, or still open, are cut from their transitions (timeline.py).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.analytics.ranges import DayRange
from apps.analytics.sql import reading
from apps.analytics.timeline import steps_sql

# Tickets done (QC passed) in the range, by the ticket's technician, and how many of them never failed QC.
DONE_SQL = """
    SELECT technician_id, COUNT(*) AS tickets_done, COUNT(*) FILTER (WHERE first_pass) AS first_pass
    FROM (
        SELECT (SELECT t.technician_id FROM ticket AS t WHERE t.id = p.ticket_id) AS technician_id,  -- by key
               NOT EXISTS (
                   SELECT 1 FROM ticket_transition AS f WHERE f.ticket_id = p.ticket_id AND f.action = 'qc_fail'
               ) AS first_pass
        FROM ticket_transition AS p
        WHERE p.action = 'qc_pass' AND p.created_at >= %(lo)s AND p.created_at < %(hi)s
    ) AS done
    GROUP BY technician_id
"""

XP_SQL = """
    SELECT user_id, SUM(amount) AS xp
    FROM xp_entry
    WHERE created_at >= %(lo)s AND created_at < %(hi)s
    GROUP BY user_id
"""

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
    SELECT technician_id, SUM(active_seconds) AS active,
           SUM(EXTRACT(EPOCH FROM ended_at - started_at) - active_seconds) AS paused, COUNT(*) AS sessions
    FROM work_session
    WHERE deleted_at IS NULL AND started_at >= %(lo)s AND ended_at <= %(hi)s AND ended_at > %(lo)s
    GROUP BY technician_id
),
auto_resumes AS (
    SELECT technician_id, COUNT(*) AS n FROM (
        SELECT ws.technician_id
        FROM work_session_transition AS t
        JOIN work_session AS ws ON ws.id = t.session_id
        WHERE t.action = 'resumed' AND t.metadata ->> 'auto_resumed' = 'true'
          AND t.event_at >= %(lo)s AND t.event_at < %(hi)s AND ws.deleted_at IS NULL
        UNION ALL  -- due, and recorded at its deadline once a worker applies it
        SELECT technician_id
        FROM work_session
        WHERE deleted_at IS NULL AND status = 'paused' AND auto_resume_at <= %(now)s
          AND auto_resume_at >= %(lo)s AND auto_resume_at < %(hi)s
    ) AS resumes
    GROUP BY technician_id
),
done AS ({DONE_SQL}),
qc_fails AS (
    SELECT held.technician_id, COUNT(*) AS n
    FROM ticket_transition AS f
    CROSS JOIN LATERAL (
        SELECT (a.metadata ->> 'technician_id')::bigint AS technician_id
        FROM ticket_transition AS a
        WHERE a.ticket_id = f.ticket_id AND a.action = 'assigned' AND (a.created_at, a.id) < (f.created_at, f.id)
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT 1
    ) AS held
    WHERE f.action = 'qc_fail' AND f.created_at >= %(lo)s AND f.created_at < %(hi)s
    GROUP BY held.technician_id
),
xp AS ({XP_SQL}),
people AS (
    SELECT id AS technician_id FROM accounts_user WHERE 'technician' = ANY (roles)
    UNION SELECT technician_id FROM crossing_totals
    UNION SELECT technician_id FROM inside
    UNION SELECT technician_id FROM done
    UNION SELECT technician_id FROM qc_fails
)
SELECT people.technician_id,
       COALESCE(crossing_totals.active, 0) + COALESCE(inside.active, 0),
       COALESCE(crossing_totals.paused, 0) + COALESCE(inside.paused, 0),
       COALESCE(auto_resumes.n, 0),
       COALESCE(crossing_totals.sessions, 0) + COALESCE(inside.sessions, 0),
       COALESCE(done.tickets_done, 0),
       COALESCE(done.first_pass, 0),
       COALESCE(qc_fails.n, 0),
       COALESCE(xp.xp, 0)
FROM people
LEFT JOIN crossing_totals USING (technician_id)
LEFT JOIN inside USING (technician_id)
LEFT JOIN auto_resumes USING (technician_id)
LEFT JOIN done USING (technician_id)
LEFT JOIN qc_fails USING (technician_id)
LEFT JOIN xp ON xp.user_id = people.technician_id
WHERE people.technician_id IS NOT NULL
ORDER BY people.technician_id
"""

LEADERBOARD_SQL = f"""
WITH xp AS ({XP_SQL} HAVING SUM(amount) > 0),
done AS ({DONE_SQL})
SELECT xp.user_id, xp.xp, COALESCE(done.tickets_done, 0), COALESCE(done.first_pass, 0)
FROM xp
LEFT JOIN done ON done.technician_id = xp.user_id
ORDER BY xp.xp DESC, xp.user_id
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
    rows = _rows(TECHNICIANS_SQL, {"lo": span.start, "hi": span.end, "now": now})
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
    rows = _rows(LEADERBOARD_SQL, {"lo": span.start, "hi": span.end, "limit": limit})
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
