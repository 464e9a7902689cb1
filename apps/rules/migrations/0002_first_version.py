"""Append-only trigger, and version 1 with API.md's defaults so a fresh database has active rules."""

from django.db import migrations

from apps.common.append_only import append_only_trigger_sql
from apps.rules.config import DEFAULT_CONFIG


def create_first_version(apps, schema_editor):
    RulesVersion = apps.get_model("rules", "RulesVersion")
    if not RulesVersion.objects.exists():
        RulesVersion.objects.create(version=1, config=DEFAULT_CONFIG, reason="defaults")


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]

    operations = [
        migrations.RunSQL(*append_only_trigger_sql("rules_version")),
        migrations.RunPython(create_first_version, migrations.RunPython.noop),
    ]
