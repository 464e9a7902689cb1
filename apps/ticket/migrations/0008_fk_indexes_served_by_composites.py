"""Foreign keys no longer indexed alone: a composite index leads with each (apps/common/migration_ops.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.common.migration_ops import drop_foreign_key_indexes

FOREIGN_KEY_INDEXES = {
    "ticket_technician_id_005caa58": ("ticket", "technician_id"),
    "ticket_transition_ticket_id_109fe6e4": ("ticket_transition", "ticket_id"),
    "work_session_technician_id_1a7b64bf": ("work_session", "technician_id"),
    "work_session_ticket_id_752b4365": ("work_session", "ticket_id"),
    "work_session_transition_session_id_bb8afda1": ("work_session_transition", "session_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("ticket", "0007_histories_in_order_plan_cache"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        drop_foreign_key_indexes(
            FOREIGN_KEY_INDEXES,
            [
                migrations.AlterField(
                    model_name="ticket",
                    name="technician",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assigned_tickets",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="tickettransition",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transitions",
                        to="ticket.ticket",
                    ),
                ),
                migrations.AlterField(
                    model_name="worksession",
                    name="technician",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_sessions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="worksession",
                    name="ticket",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="work_sessions",
                        to="ticket.ticket",
                    ),
                ),
                migrations.AlterField(
                    model_name="worksessiontransition",
                    name="session",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transitions",
                        to="ticket.worksession",
                    ),
                ),
            ],
        )
    ]
