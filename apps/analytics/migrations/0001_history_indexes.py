"""Indexes the analytics reads need on the histories (see BENCHMARKS.md for the plans that use them).

They live here, beside the queries that need them, as plain SQL: the models of the ticket and XP apps do not
declare them, so no other migration will ever try to drop them.
"""

from django.db import migrations

INDEXES = {
    # Sessions containing an instant (the ones crossing a range's start or end, and the open ones): GiST on the span.
    "work_session_span_idx": ("work_session USING gist (tstzrange(started_at, ended_at)) WHERE deleted_at IS NULL"),
    # Sessions stopped inside a range, read whole from the index (their stored figures).
    "work_session_started_idx": (
        "work_session (started_at) INCLUDE (ended_at, technician_id, active_seconds) WHERE deleted_at IS NULL"
    ),
    "ws_transition_auto_resume_idx": (
        "work_session_transition (event_at) WHERE action = 'resumed' AND (metadata ->> 'auto_resumed') = 'true'"
    ),
    "ticket_transition_qc_idx": (
        "ticket_transition (action, created_at) INCLUDE (ticket_id) WHERE action IN ('qc_pass', 'qc_fail')"
    ),
    # A done ticket's history read from the index alone (the stage cycle times).
    "ticket_transition_timeline_idx": "ticket_transition (ticket_id, created_at) INCLUDE (action)",
    "ticket_created_idx": "ticket (created_at) INCLUDE (flag_color) WHERE deleted_at IS NULL",
    "xp_entry_created_idx": "xp_entry (created_at) INCLUDE (user_id, amount)",
}


class Migration(migrations.Migration):
    dependencies = [
        ("ticket", "0006_admin_labels"),
        ("xp", "0003_admin_labels"),
    ]

    operations = [
        migrations.RunSQL(f"CREATE INDEX {name} ON {definition}", reverse_sql=f"DROP INDEX {name}")
        for name, definition in INDEXES.items()
    ]
