"""Event time (DESIGN.md): a history never goes backwards. Code clamps each command's instant up to the latest one
recorded on its ticket; these triggers refuse, underneath, any history row dated before one already there."""

from django.db import migrations

GUARD_SQL = """
CREATE FUNCTION ticketflow_{table}_in_order() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM {table} WHERE {parent} = NEW.{parent} AND {instant} > NEW.{instant}) THEN
        RAISE EXCEPTION '{table}: % % precedes an instant already in its history', '{parent}', NEW.{parent}
            USING ERRCODE = 'check_violation', CONSTRAINT = '{table}_in_order';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_in_order BEFORE INSERT ON {table}
    FOR EACH ROW EXECUTE FUNCTION ticketflow_{table}_in_order();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS {table}_in_order ON {table};
DROP FUNCTION IF EXISTS ticketflow_{table}_in_order();
"""
HISTORIES = [
    {"table": "ticket_transition", "parent": "ticket_id", "instant": "created_at"},
    {"table": "work_session_transition", "parent": "session_id", "instant": "event_at"},
]


class Migration(migrations.Migration):
    dependencies = [("ticket", "0003_ticketreviewqueue")]

    operations = [migrations.RunSQL(GUARD_SQL.format(**history), DROP_SQL.format(**history)) for history in HISTORIES]
