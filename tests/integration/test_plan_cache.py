"""Functions that run inside the write path's statements keep PostgreSQL's default plan cache mode, while the
app's own statements are planned for each run (apps/common/plan_cache.py says why)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Every PL/pgSQL function an INSERT fires, and the feed's horizon (a statement of the feed's and the dispatcher's).
_FUNCTIONS_RUN_BY_WRITES = """
SELECT DISTINCT p.proname, p.proconfig
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_language l ON l.oid = p.prolang
WHERE NOT t.tgisinternal AND (t.tgtype & 4) <> 0 AND l.lanname = 'plpgsql'
UNION
SELECT p.proname, p.proconfig FROM pg_proc p WHERE p.proname = 'ticketflow_event_horizon'
"""


def test_every_function_a_write_runs_plans_with_postgresqls_default():
    with connection.cursor() as cursor:
        cursor.execute(_FUNCTIONS_RUN_BY_WRITES)
        functions = dict(cursor.fetchall())

    assert {
        "ticketflow_ticket_transition_in_order",
        "ticketflow_work_session_transition_in_order",
        "ticketflow_event_claim",
        "ticketflow_event_horizon",
        "analytics_record_qc_decision",
        "analytics_record_xp",
    } <= set(functions)
    without = sorted(name for name, config in functions.items() if "plan_cache_mode=auto" not in (config or []))
    assert not without, f"functions a write runs that re-plan every statement on every call: {without}"


def test_the_apps_own_statements_are_still_planned_for_each_run():
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_custom_plan"
