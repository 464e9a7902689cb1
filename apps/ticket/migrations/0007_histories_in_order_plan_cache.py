from django.db import migrations

from apps.common.plan_cache import own_plan_cache


class Migration(migrations.Migration):
    dependencies = [("ticket", "0006_admin_labels")]

    operations = [
        own_plan_cache("ticketflow_ticket_transition_in_order()", "ticketflow_work_session_transition_in_order()")
    ]
