"""Delivery attempts refuse UPDATE, DELETE and TRUNCATE: each try is history."""

from django.db import migrations

from apps.common.append_only import append_only_trigger_sql

FORWARD, REVERSE = append_only_trigger_sql("webhook_delivery_attempt")


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
