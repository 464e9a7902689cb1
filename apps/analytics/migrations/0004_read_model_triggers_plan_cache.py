from django.db import migrations

from apps.common.plan_cache import own_plan_cache


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_ticket_quarters")]

    operations = [own_plan_cache("analytics_record_qc_decision()", "analytics_record_xp()")]
