"""A foreign key is not indexed on its own where a composite index leads with its column (the write path writes
one index fewer per row); the guards' partial unique indexes on those columns stay (migrations say why this needed
care: ticket 0008, xp 0005, commands 0006)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Foreign key column -> the composite index that serves its lookups.
SERVED_BY = {
    ("ticket", "technician_id"): "ticket_technician_idx",
    ("ticket_transition", "ticket_id"): "ticket_transition_history_idx",
    ("work_session", "technician_id"): "work_session_technician_idx",
    ("work_session", "ticket_id"): "work_session_ticket_idx",
    ("work_session_transition", "session_id"): "ws_transition_history_idx",
    ("xp_entry", "user_id"): "xp_entry_user_idx",
    ("command", "submitter_id"): "command_submitter_idx",
}


def index_columns() -> dict[str, tuple[str, list[str], bool]]:
    """Every index of the public schema: name -> (table, its key columns in order, whether it is partial)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, t.relname, array_agg(a.attname ORDER BY k.ordinality), x.indpred IS NOT NULL
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
            CROSS JOIN LATERAL unnest(x.indkey[:x.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ordinality)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            GROUP BY i.relname, t.relname, x.indpred IS NOT NULL
            """
        )
        return {name: (table, columns, partial) for name, table, columns, partial in cursor.fetchall()}


def test_no_foreign_key_is_indexed_alone_where_a_composite_leads_with_it():
    indexes = index_columns()
    for (table, column), composite in SERVED_BY.items():
        composite_table, composite_columns, _ = indexes[composite]
        assert (composite_table, composite_columns[0]) == (table, column), f"{composite} does not lead with {column}"
        alone = [
            name for name, (t, columns, partial) in indexes.items() if (t, columns, partial) == (table, [column], False)
        ]
        assert not alone, f"{table}.{column} is indexed on its own as well: {alone}"


def test_the_one_open_session_guards_are_still_there():
    indexes = index_columns()
    assert indexes["work_session_one_open_per_technician"] == ("work_session", ["technician_id"], True)
    assert indexes["work_session_one_open_per_ticket"] == ("work_session", ["ticket_id"], True)
