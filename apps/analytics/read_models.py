"""The read models PostgreSQL keeps from the histories (migrations 0002_read_models_from_histories and
0003_ticket_quarters): how a range reads them, and how they are checked against the histories they are derived from.

`analytics_person_day` sums per UTC day; a range runs from local midnight to local midnight, so it reads the whole UTC
days inside it from the rollup and the ragged ends (none when the rules' zone is UTC) from the XP ledger and the
per-ticket facts.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django.db import connection

# Per person in [lo, hi): XP, tickets done (of them first pass) and QC fails on tickets they held. The rollup's
# whole UTC days in [day_lo, day_hi), the ledger's and the facts' rows in the ends [lo, edge_lo) and [edge_hi, hi).
PERSON_SQL = """
    SELECT user_id, SUM(xp)::bigint AS xp, SUM(tickets_done)::bigint AS tickets_done,
           SUM(first_pass)::bigint AS first_pass, SUM(qc_fails)::bigint AS qc_fails
    FROM (
        SELECT user_id, xp, tickets_done, first_pass, qc_fails
        FROM analytics_person_day WHERE day >= %(day_lo)s AND day < %(day_hi)s
        UNION ALL
        SELECT user_id, amount, 0, 0, 0 FROM xp_entry WHERE {created_at_in_ends}
        UNION ALL
        SELECT technician_id, 0, 1, first_pass::integer, 0 FROM analytics_ticket_done
        WHERE technician_id IS NOT NULL AND ({done_at_in_ends})
        UNION ALL
        SELECT technician_id, 0, 0, 0, 1 FROM analytics_qc_fail
        WHERE technician_id IS NOT NULL AND ({failed_at_in_ends})
    ) AS figures
    GROUP BY user_id
""".format(
    **{
        f"{column}_in_ends": f"({column} >= %(lo)s AND {column} < %(edge_lo)s)"
        f" OR ({column} >= %(edge_hi)s AND {column} < %(hi)s)"
        for column in ("created_at", "done_at", "failed_at")
    }
)

# Each table against the view that derives it from the histories: rows missing, extra or different, either way.
# Person days compare sums (a day may be several rows: see the migration).
DRIFT_SQL = {
    "analytics_ticket_done": """
        (SELECT 'stored', * FROM (TABLE analytics_ticket_done EXCEPT TABLE analytics_ticket_done_derived) AS a)
        UNION ALL
        (SELECT 'derived', * FROM (TABLE analytics_ticket_done_derived EXCEPT TABLE analytics_ticket_done) AS b)
        LIMIT %(most)s
    """,
    "analytics_qc_fail": """
        (SELECT 'stored', * FROM (TABLE analytics_qc_fail EXCEPT TABLE analytics_qc_fail_derived) AS a)
        UNION ALL
        (SELECT 'derived', * FROM (TABLE analytics_qc_fail_derived EXCEPT TABLE analytics_qc_fail) AS b)
        LIMIT %(most)s
    """,
    "analytics_person_day": """
        WITH stored AS (
            SELECT user_id, day, SUM(xp)::bigint, SUM(tickets_done)::integer, SUM(first_pass)::integer,
                   SUM(qc_fails)::integer
            FROM analytics_person_day
            GROUP BY 1, 2
        )
        (SELECT 'stored', * FROM (TABLE stored EXCEPT TABLE analytics_person_day_derived) AS a)
        UNION ALL
        (SELECT 'derived', * FROM (TABLE analytics_person_day_derived EXCEPT TABLE stored) AS b)
        LIMIT %(most)s
    """,
    "analytics_ticket_quarter": """
        WITH stored AS (
            SELECT quarter, SUM(qc_passes)::integer, SUM(qc_fails)::integer FROM analytics_ticket_quarter GROUP BY 1
        )
        (SELECT 'stored', * FROM (TABLE stored EXCEPT TABLE analytics_ticket_quarter_derived) AS a)
        UNION ALL
        (SELECT 'derived', * FROM (TABLE analytics_ticket_quarter_derived EXCEPT TABLE stored) AS b)
        LIMIT %(most)s
    """,
}


def person_params(lo: datetime, hi: datetime) -> dict:
    """The parameters of PERSON_SQL for [lo, hi)."""
    first = _utc_midnight_at_or_after(lo)
    last = _utc_midnight_at_or_before(hi)
    if first >= last:  # no whole UTC day inside: the ledger alone
        return {"lo": lo, "hi": hi, "day_lo": hi.date(), "day_hi": hi.date(), "edge_lo": hi, "edge_hi": hi}
    return {"lo": lo, "hi": hi, "day_lo": first.date(), "day_hi": last.date(), "edge_lo": first, "edge_hi": last}


def drift(most: int) -> Iterator[str]:
    """Rows of the read models that differ from what the histories derive (at most `most` per table)."""
    with connection.cursor() as cursor:
        for table, sql in DRIFT_SQL.items():
            cursor.execute(sql, {"most": most})
            for side, *row in cursor.fetchall():
                where = "in the table, not derived from the histories" if side == "stored" else "missing from table"
                yield f"{table} {where}: {tuple(row)}"


def rebuild() -> None:
    """Rebuild every read model from the histories (after a bulk load written with triggers off)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT analytics_rebuild_read_models()")


def _utc_midnight_at_or_before(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return datetime.combine(utc.date(), time(), tzinfo=UTC)


def _utc_midnight_at_or_after(instant: datetime) -> datetime:
    midnight = _utc_midnight_at_or_before(instant)
    return midnight if midnight == instant else midnight + timedelta(days=1)
