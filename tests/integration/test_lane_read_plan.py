"""The lane's read (apps/commands/inbox.py) runs once per command, under a backlog as when idle. PostgreSQL plans it
on statistics that may date from a moment with nothing pending (autovacuum analyzes whenever it comes round): the
plan must still go to the lane's own commands, not walk every pending one."""

import json

import pytest
from django.db import connection

from apps.commands.inbox import _statement
from tests.support.builders import pending_command

pytestmark = pytest.mark.django_db

HISTORY, BACKLOG = 10_000, 3000
INSERT_COMMANDS = """
    INSERT INTO command (id, type, payload, lane, submitter_id, actor_id, fingerprint, status, result, error_code,
                         error_message, attempts, submitted_at, occurred_at, finished_at)
    SELECT gen_random_uuid(), 'ticket.start', '{{}}', 'ticket:other-' || g, %s, %s, '-', {status}, NULL, {error}, '',
           0, now(), now(), {finished}
    FROM generate_series(1, %s) AS g
"""


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_a_backlog_after_idle_statistics_leaves_the_lane_read_on_its_lane(shop):
    ticket = shop.assigned()
    users = [shop.technician.pk, shop.technician.pk]
    pending_command(shop.technician, "ticket.start", at=shop.tick(), ticket_id=ticket.pk)
    with connection.cursor() as cursor:
        cursor.execute(INSERT_COMMANDS.format(status="'failed'", error="'x'", finished="now()"), [*users, HISTORY])
        cursor.execute("UPDATE command SET status = 'failed', error_code = 'x', finished_at = now()")
        cursor.execute("ANALYZE command")  # statistics of an idle moment: a history, nothing pending
        # then a backlog: a command pending on each of BACKLOG other lanes
        cursor.execute(INSERT_COMMANDS.format(status="'pending'", error="''", finished="NULL"), [*users, BACKLOG])
    pending_command(shop.technician, "work_session.pause", at=shop.tick(), ticket_id=ticket.pk)

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {_statement()}", [f"ticket:{ticket.pk}"])
        (explained,) = cursor.fetchone()
    (plan,) = json.loads(explained) if isinstance(explained, str) else explained
    scans = [node for node in plan_nodes(plan["Plan"]) if node.get("Relation Name") == "command"]
    assert len(scans) == 1
    assert scans[0]["Node Type"] == "Index Scan" and "lane" in scans[0].get("Index Cond", "")
    assert scans[0]["Actual Rows"] == 1  # the lane's one pending command, none of the backlog's read
