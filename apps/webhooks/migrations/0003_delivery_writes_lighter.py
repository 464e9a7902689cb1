"""A delivery's writes touch fewer indexes.

- The foreign keys' own indexes go: `webhook_delivery (webhook_id)` is the first column of the listing index and of
  the unique (webhook, event_position, redelivery), `webhook_delivery_attempt (delivery_id)` of the unique
  (delivery, number); each was one more index entry per insert (and per delivery update) that no query needed.
- `webhook_delivery` pages keep room (fillfactor 70) so that the claim, which sets only `enqueued_at` (no index
  holds it), can write the row's new version beside the old one (a HOT update: no index entry at all). With full
  pages it had to go to another page and add an entry to each of the table's six indexes.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_attempts_append_only")]

    operations = [
        migrations.AlterField(
            model_name="deliveryattempt",
            name="delivery",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="attempt_rows",
                to="webhooks.webhookdelivery",
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="webhook",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deliveries",
                to="webhooks.webhook",
            ),
        ),
        migrations.RunSQL(
            "ALTER TABLE webhook_delivery SET (fillfactor = 70)", "ALTER TABLE webhook_delivery RESET (fillfactor)"
        ),
    ]
