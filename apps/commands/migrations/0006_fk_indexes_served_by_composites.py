"""Foreign keys no longer indexed alone: a composite index leads with each (apps/common/migration_ops.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.common.migration_ops import drop_foreign_key_indexes

FOREIGN_KEY_INDEXES = {
    "command_submitter_id_85b0250f": ("command", "submitter_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("commands", "0005_one_pending_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_foreign_key_indexes(
            FOREIGN_KEY_INDEXES,
            [
                migrations.AlterField(
                    model_name="command",
                    name="submitter",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        )
    ]
