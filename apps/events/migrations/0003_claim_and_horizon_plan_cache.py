from django.db import migrations

from apps.common.plan_cache import own_plan_cache


class Migration(migrations.Migration):
    dependencies = [("events", "0002_append_only_and_horizon")]

    operations = [own_plan_cache("ticketflow_event_claim()", "ticketflow_event_horizon()")]
