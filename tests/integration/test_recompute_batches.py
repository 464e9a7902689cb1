"""Each batch of the rules-change recompute reads only its own id range.

The batch's UPDATE used to join every ticket and every part spec (sequential scans) to pick out its few thousand
ids, so a recompute cost batches x table size: quadratic in the number of tickets (the benchmark measured 100,000
tickets at 17 s, each 5,000-ticket batch scanning all 100,000 tickets and 200,000 specs). The range is now spelled
out on every table, so each batch is an index range scan and the whole recompute is linear.
"""

import json

import pytest
from django.db import connection

from apps.common.time import utc_now
from apps.ticket.services_rules_change import RECOMPUTE_BATCH_SQL
from tests.factories import AdminFactory, MasterFactory, TechnicianFactory

pytestmark = pytest.mark.django_db

TICKETS = 3000


def build_tickets(count: int) -> None:
    at, admin, master, technician = utc_now(), AdminFactory(), MasterFactory(), TechnicianFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inventory_item (serial_number, name, category, status, created_at)
            SELECT 'RANGE-' || g, 'bike', '', 'ready', %(at)s FROM generate_series(1, %(count)s) AS g;
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
            {"count": count, "at": at, "admin": admin.pk, "master": master.pk, "technician": technician.pk},
        )


def scans(node: dict):
    if "Relation Name" in node:
        yield node["Node Type"], node["Relation Name"]
    for child in node.get("Plans", []):
        yield from scans(child)


def test_a_recompute_batch_scans_only_its_id_range(db):
    build_tickets(TICKETS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM ticket")
        (first,) = cursor.fetchone()
        params = {"green_max": 30, "yellow_max": 60, "divisor": 7, "at": utc_now(), "after": first, "upto": first + 100}
        cursor.execute(f"EXPLAIN (FORMAT JSON) {RECOMPUTE_BATCH_SQL}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found = list(scans(plan[0]["Plan"]))
    assert {relation for _, relation in found} == {"ticket", "ticket_part_spec"}
    assert not [scan for scan in found if scan[0] == "Seq Scan"], found
