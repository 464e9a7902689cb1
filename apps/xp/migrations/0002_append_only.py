from django.db import migrations

from apps.common.append_only import append_only_trigger_sql


class Migration(migrations.Migration):
    dependencies = [("xp", "0001_initial")]

    operations = [migrations.RunSQL(*append_only_trigger_sql("xp_entry"))]
