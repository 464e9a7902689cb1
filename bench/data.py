"""Benchmark data, bulk-built in SQL inside the harness's Django connection.

Every row satisfies the schema's constraints (one active ticket per item, a spec's part belongs to the ticket's
item, one open session per ticket and per technician, paused iff a deadline, ...). Tokens are derived from a
per-run secret so the harness knows the raw values while the database stores only their SHA-256, as ApiToken does.
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction

from apps.common.time import utc_now
from tests.support.bulk import user_insert


@dataclass(frozen=True)
class Staff:
    admin_id: int
    master_id: int
    admin_token: str
    qc_token: str


@dataclass
class Batch:
    """Tickets ready to start (`assigned`), each to a technician of its own, with that technician's token."""

    tag: str
    ticket_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ticket_ids)


class Builder:
    def __init__(self):
        self.secret = secrets.token_hex(8)

    def token(self, tag: str, n: int) -> str:
        return f"tf_{self.secret}_{tag}_{n}"

    def staff(self) -> Staff:
        at = utc_now()
        ids, tokens = {}, {}
        with transaction.atomic():
            for n, role in enumerate(("admin", "master", "qc_inspector"), start=1):
                tokens[role] = self.token("staff", n)
                statement, defaults = user_insert(
                    username="%(name)s", roles="ARRAY[%(role)s]::varchar(20)[]", returning="RETURNING id"
                )
                ids[role] = _scalar(statement, {"name": f"bench-{role}", "role": role, "at": at, **defaults})
                _execute(
                    """
                    INSERT INTO accounts_apitoken (token_hash, hint, created_at, revoked_at, user_id)
                    VALUES (encode(sha256(convert_to(%(raw)s, 'UTF8')), 'hex'), left(%(raw)s, 10), %(at)s, NULL,
                            %(user)s)
                    """,
                    {"raw": tokens[role], "at": at, "user": ids[role]},
                )
        return Staff(
            admin_id=ids["admin"], master_id=ids["master"], admin_token=tokens["admin"], qc_token=tokens["qc_inspector"]
        )

    def assigned_tickets(self, tag: str, count: int, staff: Staff) -> Batch:
        """`count` approved tickets assigned to `count` new technicians (with tokens), on items of their own."""
        at = utc_now()
        params = {"tag": tag, "lo": 1, "hi": count, "at": at, "prefix": self.token(tag, ""), **_staff(staff)}
        with transaction.atomic():
            self._technicians(params, with_tokens=True)
            self._items(params, status="ready")
            _execute(
                TICKETS_SQL.format(status="'assigned'", started_at="NULL"),
                params,
            )
            self._part_specs(params)
            rows = _rows(
                """
                SELECT t.id FROM generate_series(%(lo)s, %(hi)s) AS g
                JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
                JOIN ticket AS t ON t.inventory_item_id = item.id
                ORDER BY g
                """,
                params,
            )
        return Batch(tag, [row[0] for row in rows], [self.token(tag, n) for n in range(1, count + 1)])

    def paused_sessions(self, tag: str, lo: int, hi: int, staff: Staff, *, first_deadline: datetime) -> int:
        """Technicians `lo..hi`, each with an in-progress ticket whose one session is paused; the deadline of
        number g is `first_deadline + g x 10 ms`, so exactly 1,000 are due at `first_deadline + 10 s`."""
        at = utc_now()
        params = {
            "tag": tag,
            "lo": lo,
            "hi": hi,
            "at": at,
            "started": at - timedelta(minutes=10),
            "paused": at - timedelta(minutes=5),
            "first_deadline": first_deadline,
            **_staff(staff),
        }
        with transaction.atomic():
            self._technicians(params, with_tokens=False)
            self._items(params, status="in_service")
            _execute(TICKETS_SQL.format(status="'in_progress'", started_at="%(started)s"), params)
            self._part_specs(params)
            created = _execute(
                """
                INSERT INTO work_session (status, started_at, ended_at, active_seconds, auto_resume_at, updated_at,
                                          deleted_at, technician_id, ticket_id)
                SELECT 'paused', %(started)s, NULL, 300, %(first_deadline)s + g * interval '10 milliseconds',
                       %(paused)s, NULL, t.technician_id, t.id
                FROM generate_series(%(lo)s, %(hi)s) AS g
                JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
                JOIN ticket AS t ON t.inventory_item_id = item.id
                """,
                params,
            )
            _execute(
                """
                INSERT INTO work_session_transition (action, from_status, to_status, event_at, metadata, actor_id,
                                                     session_id)
                SELECT step.action, step.from_status, step.to_status, step.event_at, step.metadata, ws.technician_id,
                       ws.id
                FROM generate_series(%(lo)s, %(hi)s) AS g
                JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
                JOIN ticket AS t ON t.inventory_item_id = item.id
                JOIN work_session AS ws ON ws.ticket_id = t.id
                CROSS JOIN LATERAL (VALUES
                    ('started', NULL, 'running', %(started)s, '{}'::jsonb),
                    ('paused', 'running', 'paused', %(paused)s,
                     jsonb_build_object('remaining_pause_seconds_today', 1800,
                                        'auto_resume_at', to_char(ws.auto_resume_at AT TIME ZONE 'UTC',
                                                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
                ) AS step (action, from_status, to_status, event_at, metadata)
                """,
                params,
            )
        return created

    def _technicians(self, params: dict, *, with_tokens: bool) -> None:
        statement, defaults = user_insert(
            username="'bench-' || %(tag)s || '-tech-' || g",
            roles="ARRAY['technician']::varchar(20)[]",
            source="FROM generate_series(%(lo)s, %(hi)s) AS g",
        )
        _execute(statement, {**params, **defaults})
        if with_tokens:
            _execute(
                """
                INSERT INTO accounts_apitoken (token_hash, hint, created_at, revoked_at, user_id)
                SELECT encode(sha256(convert_to(%(prefix)s || g, 'UTF8')), 'hex'), left(%(prefix)s || g, 10),
                       %(at)s, NULL, u.id
                FROM generate_series(%(lo)s, %(hi)s) AS g
                JOIN accounts_user AS u ON u.username = 'bench-' || %(tag)s || '-tech-' || g
                """,
                params,
            )

    def _items(self, params: dict, *, status: str) -> None:
        _execute(
            """
            INSERT INTO inventory_item (serial_number, name, category, status, created_at)
            SELECT 'BENCH-' || %(tag)s || '-' || g, 'Bench bike ' || g, 'bike', %(status)s, %(at)s
            FROM generate_series(%(lo)s, %(hi)s) AS g
            """,
            {**params, "status": status},
        )
        _execute(
            """
            INSERT INTO inventory_item_part (name, inventory_item_id)
            SELECT part.name, item.id
            FROM generate_series(%(lo)s, %(hi)s) AS g
            JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
            CROSS JOIN (VALUES ('brakes'), ('chain')) AS part (name)
            """,
            params,
        )

    def _part_specs(self, params: dict) -> None:
        # 25 + 20 planned minutes: 45, a yellow flag and 3 XP under the default rules (as the ticket rows say).
        _execute(
            """
            INSERT INTO ticket_part_spec (color, minutes, comment, created_at, deleted_at, inventory_item_id,
                                          inventory_item_part_id, ticket_id)
            SELECT CASE part.name WHEN 'brakes' THEN 'yellow' ELSE 'green' END,
                   CASE part.name WHEN 'brakes' THEN 25 ELSE 20 END, '', %(at)s, NULL, item.id, part.id, t.id
            FROM generate_series(%(lo)s, %(hi)s) AS g
            JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
            JOIN ticket AS t ON t.inventory_item_id = item.id
            JOIN inventory_item_part AS part ON part.inventory_item_id = item.id
            """,
            params,
        )


TICKETS_SQL = """
INSERT INTO ticket (title, status, approved_at, assigned_at, started_at, finished_at, total_duration, flag_minutes,
                    flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at, approved_by_id,
                    inventory_item_id, master_id, technician_id)
SELECT 'Bench ticket ' || g, {status}, %(at)s, %(at)s, {started_at}, NULL, 45, 45, 'yellow', 3, false, %(at)s, %(at)s,
       NULL, %(admin)s, item.id, %(master)s, tech.id
FROM generate_series(%(lo)s, %(hi)s) AS g
JOIN inventory_item AS item ON item.serial_number = 'BENCH-' || %(tag)s || '-' || g
JOIN accounts_user AS tech ON tech.username = 'bench-' || %(tag)s || '-tech-' || g
"""


def analyze(*, vacuum: bool = False) -> None:
    """Planner statistics for the new rows; with `vacuum`, also the hint bits and visibility map that autovacuum
    would have set on a live table (else the first statement to read bulk-loaded rows pays for writing them)."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")


def stand_in_for_autovacuum() -> bool:
    """`VACUUM ANALYZE` when the server runs no autovacuum (this machine's PostgreSQL is configured without it):
    else every phase runs on the statistics and dead rows the earlier phases left, its plans chosen for tables a
    tenth of their size (a lookup by ticket became a scan of a whole index), and throughput falls phase after
    phase. A production server's autovacuum keeps both, in the background; here it runs between phases, outside
    their timings. True when it ran."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return False
        cursor.execute("VACUUM ANALYZE")
    return True


def _staff(staff: Staff) -> dict:
    return {"admin": staff.admin_id, "master": staff.master_id}


def _execute(statement: str, params: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})
        return cursor.rowcount


def _scalar(statement: str, params: dict):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def _rows(statement: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()
