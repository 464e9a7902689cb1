"""The sweep's query and the metrics recompute at scale: rows bulk-built in SQL, inside the test's transaction.

The query plans are read with EXPLAIN: the sweep's query uses its partial index, and each batch of the recompute
reads only its own id range (an index range scan on every table), so the whole recompute is linear in the number of
tickets.
"""

import json
import math
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection

from apps.common.time import utc_now
from apps.rules.selectors import active_rules
from apps.ticket.models import Ticket, WorkSession
from apps.ticket.services_rules_change import RECOMPUTE_BATCH_SQL, recompute_auto_metrics
from tests.support.bulk import check_constraints_immediately, execute, insert_items, insert_technicians
from tests.support.clock import frozen, utc
from tests.support.factories import AdminFactory, MasterFactory, TechnicianFactory
from tests.support.logs import write_figures
from tests.support.rules import use_xp_rules

NOW = utc(2026, 11, 26, 12)


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def explain_sql(sql: str, params) -> list[dict]:
    """The plan nodes PostgreSQL picks for `sql` with `params`."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (document,) = cursor.fetchone()
    document = json.loads(document) if isinstance(document, str) else document
    return list(plan_nodes(document[0]["Plan"]))


def explain(queryset) -> list[dict]:
    """The plan nodes PostgreSQL picks for exactly the SQL (and parameters) Django sends for `queryset`."""
    return explain_sql(*queryset.query.sql_with_params())


# --- the sweep's query over 100,000 paused sessions ---------------------------------------------------------------

SESSIONS = 100_000


def build_paused_sessions(count: int, *, first_deadline: datetime) -> None:
    """`count` paused sessions, one per ticket, item and technician (the open-session rules), none due before
    `first_deadline`; their deadlines spread over the following day."""
    admin, master = AdminFactory(), MasterFactory()
    check_constraints_immediately()
    insert_technicians("sweep", count, at=NOW)
    insert_items("SWEEP", count, at=NOW, status="in_service")
    execute(
        """
        INSERT INTO ticket (title, status, approved_at, assigned_at, started_at, finished_at, total_duration,
                            flag_minutes, flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at,
                            approved_by_id, inventory_item_id, master_id, technician_id)
        SELECT 'bulk', 'in_progress', %(at)s, %(at)s, %(at)s, NULL, 0, 0, 'green', 0, false, %(at)s, %(at)s, NULL,
               %(admin)s, item.id, %(master)s, tech.id
        FROM generate_series(1, %(count)s) AS g
        JOIN inventory_item AS item ON item.serial_number = 'SWEEP-' || g
        JOIN accounts_user AS tech ON tech.username = 'sweep-tech-' || g
        """,
        {"count": count, "at": NOW, "admin": admin.pk, "master": master.pk},
    )
    inserted = execute(
        """
        INSERT INTO work_session (status, started_at, ended_at, active_seconds, auto_resume_at, updated_at,
                                  deleted_at, technician_id, ticket_id)
        SELECT 'paused', %(at)s, NULL, 0, %(first_deadline)s + (row_number() OVER (ORDER BY t.id)) * interval '0.8 s',
               %(at)s, NULL, t.technician_id, t.id
        FROM ticket AS t
        JOIN inventory_item AS item ON item.id = t.inventory_item_id
        WHERE item.serial_number LIKE 'SWEEP-%%'
        """,
        {"at": NOW, "first_deadline": first_deadline},
    )
    assert inserted == count
    execute("ANALYZE work_session")


def test_the_sweep_query_uses_the_partial_index_over_100k_paused_sessions(db):
    started = time.perf_counter()
    build_paused_sessions(SESSIONS, first_deadline=NOW + timedelta(minutes=5))
    built_in = time.perf_counter() - started
    print(f"\n{SESSIONS} paused sessions built and analysed in {built_in:.1f} s")
    assert WorkSession.domain.paused().count() == SESSIONS

    due = WorkSession.domain.paused_due(NOW)
    swept = due.order_by("auto_resume_at").values_list("pk", "ticket_id", "auto_resume_at")[:500]  # the sweep's form
    for queryset in (due, swept):
        nodes = explain(queryset)
        scans = [
            (n["Node Type"], n.get("Index Name"), n.get("Relation Name")) for n in nodes if "Scan" in n["Node Type"]
        ]
        assert any(
            kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") and index == "work_session_due_resume_idx"
            for kind, index, _ in scans
        ), scans
        assert not any(kind == "Seq Scan" and relation == "work_session" for kind, _, relation in scans), scans
    with frozen(NOW):
        assert list(due) == []


# --- a rules change recomputes the metrics of 10,000 tickets --------------------------------------------------------

TICKETS = 10_000
ACTIVE_STATUSES = ["under_review", "new", "assigned", "in_progress", "waiting_qc", "rework"]
SNAPSHOT_SQL = """
SELECT t.id, t.status, t.is_manual, t.deleted_at IS NOT NULL, t.total_duration, t.flag_minutes, t.flag_color,
       t.xp_amount, t.updated_at, COALESCE(SUM(spec.minutes) FILTER (WHERE spec.deleted_at IS NULL), 0)
FROM ticket AS t
JOIN inventory_item AS item ON item.id = t.inventory_item_id
LEFT JOIN ticket_part_spec AS spec ON spec.ticket_id = t.id
WHERE item.serial_number LIKE 'RECOMPUTE-%%'
GROUP BY t.id
"""


def build_tickets_with_specs(count: int) -> None:
    """`count` tickets, one per item, each with two active part specs (and, for every third, a soft-deleted one).

    Kind by number g: g % 10 == 0 done; g % 10 == 1 manual override; g % 50 == 2 soft-deleted; else active in one of
    the six active statuses. Metrics start out as the default rules derive them (divisor 20, green <= 30 < yellow
    <= 60 < red); manual ones are frozen at red / 99 XP.
    """
    admin, master, technician = AdminFactory(), MasterFactory(), TechnicianFactory()
    check_constraints_immediately()
    insert_items("RECOMPUTE", count, at=NOW)
    execute(
        """
        INSERT INTO inventory_item_part (name, inventory_item_id)
        SELECT part.name, item.id
        FROM inventory_item AS item CROSS JOIN (VALUES ('brakes'), ('chain')) AS part (name)
        WHERE item.serial_number LIKE 'RECOMPUTE-%%'
        """
    )
    execute(
        """
        INSERT INTO ticket (title, status, approved_at, assigned_at, started_at, finished_at, total_duration,
                            flag_minutes, flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at,
                            approved_by_id, inventory_item_id, master_id, technician_id)
        SELECT 'g' || g,
               CASE WHEN g %% 10 = 0 THEN 'done' ELSE (%(active)s::text[])[g %% 6 + 1] END,
               %(at)s, %(at)s, %(at)s, CASE WHEN g %% 10 = 0 THEN %(at)s END,
               m.total, m.total,
               CASE WHEN g %% 10 = 1 THEN 'red' WHEN m.total <= 30 THEN 'green' WHEN m.total <= 60 THEN 'yellow'
                    ELSE 'red' END,
               CASE WHEN g %% 10 = 1 THEN 99 ELSE CEIL(m.total / 20.0)::integer END,
               g %% 10 = 1, %(at)s, %(at)s, CASE WHEN g %% 50 = 2 THEN %(at)s END,
               %(admin)s, item.id, %(master)s, %(technician)s
        FROM generate_series(1, %(count)s) AS g
        CROSS JOIN LATERAL (SELECT (g * 7) %% 61 + (g * 13) %% 47 AS total) AS m
        JOIN inventory_item AS item ON item.serial_number = 'RECOMPUTE-' || g
        """,
        {
            "count": count,
            "at": NOW,
            "active": ACTIVE_STATUSES,
            "admin": admin.pk,
            "master": master.pk,
            "technician": technician.pk,
        },
    )
    execute(
        """
        INSERT INTO ticket_part_spec (color, minutes, comment, created_at, deleted_at, inventory_item_id,
                                      inventory_item_part_id, ticket_id)
        SELECT 'green',
               CASE WHEN spec.kind = 'old' THEN 500
                    WHEN part.name = 'brakes' THEN (t.g * 7) %% 61 ELSE (t.g * 13) %% 47 END,
               '', %(at)s, CASE WHEN spec.kind = 'old' THEN %(at)s END, t.inventory_item_id, part.id, t.id
        FROM (SELECT ticket.id, ticket.inventory_item_id, substr(ticket.title, 2)::integer AS g
              FROM ticket JOIN inventory_item AS item ON item.id = ticket.inventory_item_id
              WHERE item.serial_number LIKE 'RECOMPUTE-%%') AS t
        JOIN inventory_item_part AS part ON part.inventory_item_id = t.inventory_item_id
        CROSS JOIN (VALUES ('live'), ('old')) AS spec (kind)
        WHERE spec.kind = 'live' OR (part.name = 'brakes' AND t.g %% 3 = 0)
        """,
        {"at": NOW},
    )


def snapshot() -> dict[int, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(SNAPSHOT_SQL)
        return {row[0]: row[1:] for row in cursor.fetchall()}


@pytest.fixture
def ten_thousand_tickets(db):
    build_tickets_with_specs(TICKETS)
    before = snapshot()
    assert len(before) == TICKETS
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ticket_part_spec WHERE deleted_at IS NOT NULL")
        assert cursor.fetchone()[0] == TICKETS // 3  # soft-deleted 500-minute specs the totals must ignore
    return before


def test_a_rules_change_recomputes_10k_tickets_leaving_manual_and_done_alone(ten_thousand_tickets):
    before = ten_thousand_tickets
    changed_at = NOW + timedelta(hours=1)
    use_xp_rules(changed_at, base_divisor=7, flag_green_max_minutes=20, flag_yellow_max_minutes=45)
    xp_rules = active_rules().config.ticket_xp
    assert (xp_rules.base_divisor, xp_rules.flag_green_max_minutes, xp_rules.flag_yellow_max_minutes) == (7, 20, 45)

    started = time.perf_counter()
    with frozen(changed_at):
        changed = recompute_auto_metrics(xp_rules=xp_rules, at=changed_at)
    elapsed = time.perf_counter() - started

    after = snapshot()
    recomputed = 0
    for ticket_id, (status, is_manual, deleted, *metrics, updated_at, spec_total) in before.items():
        if status != "done" and not is_manual and not deleted:
            color = Ticket.flag_color_from_minutes(spec_total, green_max=20, yellow_max=45)
            expected = (spec_total, spec_total, color, math.ceil(spec_total / 7))
            moved = tuple(metrics) != expected
            recomputed += moved
            assert after[ticket_id] == (
                status,
                is_manual,
                deleted,
                *expected,
                changed_at if moved else updated_at,
                spec_total,
            ), ticket_id
        else:
            assert after[ticket_id] == before[ticket_id], ticket_id
    auto = [row for row in before.values() if row[0] != "done" and not row[1] and not row[2]]
    assert len(auto) == 7800  # 10,000 - 1,000 done - 1,000 manual - 200 soft-deleted
    assert changed == recomputed > len(auto) // 2  # the change mattered for most of them

    result = {
        "tickets": TICKETS,
        "active_auto_tickets": len(auto),
        "changed": changed,
        "seconds": round(elapsed, 3),
        "batch_size": 5000,
    }
    write_figures("recompute-10k", result)


# --- each batch of the recompute reads only its own id range --------------------------------------------------------

RANGE_TICKETS = 3000


def build_range_tickets(count: int) -> None:
    """`count` assigned tickets, one per item, each with one part spec; statistics analysed."""
    at, admin, master, technician = utc_now(), AdminFactory(), MasterFactory(), TechnicianFactory()
    insert_items("RANGE", count, at=at)
    execute(
        """
        INSERT INTO inventory_item_part (name, inventory_item_id)
        SELECT 'brakes', id FROM inventory_item WHERE serial_number LIKE 'RANGE-%%';
        INSERT INTO ticket (title, status, approved_at, assigned_at, started_at, finished_at, total_duration,
                            flag_minutes, flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at,
                            approved_by_id, inventory_item_id, master_id, technician_id)
        SELECT '', 'assigned', %(at)s, %(at)s, NULL, NULL, 25, 25, 'green', 2, false, %(at)s, %(at)s, NULL,
               %(admin)s, id, %(master)s, %(technician)s
        FROM inventory_item WHERE serial_number LIKE 'RANGE-%%';
        INSERT INTO ticket_part_spec (color, minutes, comment, created_at, deleted_at, inventory_item_id,
                                      inventory_item_part_id, ticket_id)
        SELECT 'green', 25, '', %(at)s, NULL, t.inventory_item_id, part.id, t.id
        FROM ticket AS t JOIN inventory_item_part AS part ON part.inventory_item_id = t.inventory_item_id;
        ANALYZE ticket, ticket_part_spec;
        """,
        {"at": at, "admin": admin.pk, "master": master.pk, "technician": technician.pk},
    )


def test_a_recompute_batch_scans_only_its_id_range(db):
    build_range_tickets(RANGE_TICKETS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM ticket")
        (first,) = cursor.fetchone()
    params = {"green_max": 30, "yellow_max": 60, "divisor": 7, "at": utc_now(), "after": first, "upto": first + 100}
    found = [
        (n["Node Type"], n["Relation Name"]) for n in explain_sql(RECOMPUTE_BATCH_SQL, params) if "Relation Name" in n
    ]
    assert {relation for _, relation in found} == {"ticket", "ticket_part_spec", "event"}  # event: only written
    assert not [scan for scan in found if scan[0] == "Seq Scan"], found
