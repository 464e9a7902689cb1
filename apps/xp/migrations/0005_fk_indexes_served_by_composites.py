"""Foreign keys whose own index a composite index leading with the same column makes redundant: each was one more
index for every insert (and every update that moves the row) to write.

Only those indexes are dropped, by name. `AlterField(db_index=False)` alone would also drop every other index on
the column that Django did not create itself (the partial unique indexes that keep one open session per technician
and per ticket) and drop and re-validate each foreign key.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FOREIGN_KEY_INDEXES = {
    "xp_entry_user_id_6687c230": ("xp_entry", "user_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("xp", "0004_manual_adjustment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX "{name}"', reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")'
                )
                for name, (table, column) in FOREIGN_KEY_INDEXES.items()
            ],
            state_operations=[
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
