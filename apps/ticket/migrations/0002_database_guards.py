"""PostgreSQL guards that Django cannot declare: composite foreign keys and append-only triggers."""

from django.db import migrations

from apps.common.append_only import append_only_trigger_sql

SPEC_FKS = """
ALTER TABLE ticket_part_spec
    ADD CONSTRAINT ticket_part_spec_part_belongs_to_item
    FOREIGN KEY (inventory_item_part_id, inventory_item_id)
    REFERENCES inventory_item_part (id, inventory_item_id) DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE ticket_part_spec
    ADD CONSTRAINT ticket_part_spec_item_matches_ticket
    FOREIGN KEY (ticket_id, inventory_item_id)
    REFERENCES ticket (id, inventory_item_id) DEFERRABLE INITIALLY IMMEDIATE;
"""
DROP_SPEC_FKS = """
ALTER TABLE ticket_part_spec DROP CONSTRAINT ticket_part_spec_part_belongs_to_item;
ALTER TABLE ticket_part_spec DROP CONSTRAINT ticket_part_spec_item_matches_ticket;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("ticket", "0001_initial"),
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(SPEC_FKS, DROP_SPEC_FKS),
        migrations.RunSQL(*append_only_trigger_sql("ticket_transition")),
        migrations.RunSQL(*append_only_trigger_sql("work_session_transition")),
    ]
