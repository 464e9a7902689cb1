"""The write path's fixed statements go through `prepared_cursor` (apps/common/db.py): PostgreSQL binds their values
and, once a connection has run one `prepare_threshold` times, keeps it prepared. The ORM's own queries still bind
on the client and are never prepared; `DATABASE_PREPARE_THRESHOLD=0` prepares nothing; errors and DEBUG's query log
are Django's as with any cursor."""

import pytest
from django.conf import settings
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.commands.processing import drain_lane
from apps.common.db import prepared_cursor
from apps.ticket.models import Ticket, WorkSession
from tests.support.builders import pending_command
from tests.support.processes import process_env, run_python

pytestmark = pytest.mark.django_db


def prepared_statements(containing: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{containing}%"])
        return [statement for (statement,) in cursor.fetchall()]


def test_a_statement_run_as_often_as_the_threshold_is_prepared_once():
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    assert threshold == settings.DATABASE_PREPARE_THRESHOLD > 0
    marker = "prepared_cursor_test_marker"
    for n in range(threshold + 3):
        assert prepared_statements(marker) == ([] if n <= threshold else [f"SELECT $1::int AS {marker}"])
        with prepared_cursor() as cursor:
            cursor.execute(f"SELECT %s::int AS {marker}", [n])
            assert cursor.fetchone() == (n,)


def test_the_orms_queries_are_never_prepared():
    for _ in range(10):
        assert not Ticket.objects.filter(pk=-7).exists()
    assert prepared_statements('"ticket"') == []


def test_a_command_lanes_reads_and_writes_are_prepared_after_a_few_commands(shop):
    ticket = shop.assigned()
    for command_type in ("ticket.start", "work_session.pause", "work_session.resume"):
        pending_command(shop.technician, command_type, at=shop.tick(), ticket_id=ticket.pk)
        assert drain_lane(f"ticket:{ticket.pk}") == 1
    assert WorkSession.objects.get(ticket=ticket).status == "running"
    assert prepared_statements("pg_advisory_xact_lock(hashtextextended($1, 0))")  # the lane's lock
    assert prepared_statements("FROM command c LEFT JOIN")  # the lane's next commands (apps/commands/inbox.py)
    assert prepared_statements('UPDATE "command" SET')  # the outcome (save_in_one_statement)


def test_errors_are_djangos_and_the_transaction_rolls_back_as_ever():
    with pytest.raises(DataError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute("SELECT 1 / %s::int", [0])
    with prepared_cursor() as cursor:  # the connection is usable again
        cursor.execute("SELECT %s::int + 1", [1])
        assert cursor.fetchone() == (2,)


def test_debug_logs_each_prepared_run_once_with_its_values_bound():
    with CaptureQueriesContext(connection) as queries:
        for n in range(4):  # past the threshold: psycopg keeps no text for a prepared statement's run
            with prepared_cursor() as cursor:
                cursor.execute("SELECT %s::int AS logged_run", [n])
    assert [query["sql"] for query in queries.captured_queries] == [f"SELECT {n}::int AS logged_run" for n in range(4)]


def test_a_threshold_of_zero_prepares_nothing():
    script = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from apps.common.db import prepared_cursor\n"
        "for n in range(6):\n"
        "    with prepared_cursor() as cursor:\n"
        "        cursor.execute('SELECT %s::int', [n])\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SELECT count(*) FROM pg_prepared_statements')\n"
        "    print(cursor.fetchone()[0])\n"
    )
    counts = {}
    for threshold in ("0", "2"):
        result = run_python("-c", script, env=process_env(DATABASE_PREPARE_THRESHOLD=threshold), timeout=60)
        counts[threshold] = int(result.stdout.strip().splitlines()[-1])
    assert counts == {"0": 0, "2": 1}


def test_a_prepared_statement_is_still_planned_for_each_runs_values():
    """A plan kept for any values is chosen on the statistics of a statement's first runs: the lane's read, kept
    while no command waited, went on scanning every pending command once a backlog had built up."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_custom_plan",)
