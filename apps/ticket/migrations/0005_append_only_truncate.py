"""Append-only tables refuse TRUNCATE too (row triggers never see it). One migration for every app's append-only
table, so the rule lands at once."""

from django.db import migrations

from apps.common.append_only import append_only_truncate_sql

APPEND_ONLY_TABLES = ["ticket_transition", "work_session_transition", "xp_entry", "rules_version"]


class Migration(migrations.Migration):
    dependencies = [
        ("ticket", "0004_histories_in_order"),
        ("xp", "0002_append_only"),
        ("rules", "0002_first_version"),
    ]

    operations = [migrations.RunSQL(*append_only_truncate_sql(table)) for table in APPEND_ONLY_TABLES]
