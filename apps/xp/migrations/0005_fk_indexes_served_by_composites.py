"""Foreign keys no longer indexed alone: a composite index leads with each (apps/common/migration_ops.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.common.migration_ops import drop_foreign_key_indexes

FOREIGN_KEY_INDEXES = {
    "xp_entry_user_id_6687c230": ("xp_entry", "user_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("xp", "0004_manual_adjustment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_foreign_key_indexes(
            FOREIGN_KEY_INDEXES,
            [
                migrations.AlterField(
                    model_name="xpentry",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="xp_entries",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        )
    ]
