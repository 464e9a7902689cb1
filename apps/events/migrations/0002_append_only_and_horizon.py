"""Events refuse UPDATE, DELETE and TRUNCATE (DELETE only inside a retention prune), and every inserting transaction
claims its place in the feed before it draws a position (see apps/events/feed.py for why and how it is read)."""

from django.db import migrations

from apps.common.append_only import append_only_truncate_sql

# Advisory locks of the two-key form whose first key is at least this number are event claims; the first key also
# carries the high bits of the position the claim is about (two int4 keys hold a bigint).
CLAIM_LOCK_CLASS = 1_618_000_000

REJECT_UPDATE = """
CREATE OR REPLACE FUNCTION ticketflow_reject_mutation() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_append_only BEFORE UPDATE ON event
    FOR EACH ROW EXECUTE FUNCTION ticketflow_reject_mutation();
"""

# The one way out of the log: a prune says, for its own transaction only, the instant before which rows may go.
REJECT_DELETE_UNLESS_PRUNING = """
CREATE OR REPLACE FUNCTION ticketflow_event_reject_delete() RETURNS trigger AS $$
DECLARE
    prune_before timestamptz := NULLIF(current_setting('ticketflow.prune_events_before', true), '')::timestamptz;
BEGIN
    IF prune_before IS NOT NULL AND OLD.recorded_at < prune_before THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table event is append-only: DELETE refused'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_append_only_delete BEFORE DELETE ON event
    FOR EACH ROW EXECUTE FUNCTION ticketflow_event_reject_delete();
"""

# Positions handed out one at a time (the identity default, said out loud): with a per-session cache a transaction
# could draw a position below the sequence value its claim read.
NO_CACHE = "ALTER TABLE event ALTER COLUMN position SET CACHE 1;"

# Once per transaction, before its first event row draws a position: hold a shared advisory lock keyed by the
# sequence's value now, until commit or rollback. Every position this transaction draws is above that value.
CLAIM = f"""
CREATE OR REPLACE FUNCTION ticketflow_event_claim() RETURNS trigger AS $$
DECLARE
    drawn_so_far bigint;
BEGIN
    IF current_setting('ticketflow.event_claimed', true) = 'on' THEN
        RETURN NULL;
    END IF;
    drawn_so_far := COALESCE(pg_sequence_last_value(pg_get_serial_sequence('event', 'position')::regclass), 0);
    PERFORM pg_advisory_xact_lock_shared(
        {CLAIM_LOCK_CLASS} + (drawn_so_far >> 32)::integer,
        ((drawn_so_far & 4294967295) - CASE WHEN (drawn_so_far & 4294967295) >= 2147483648 THEN 4294967296 ELSE 0 END)::integer
    );
    PERFORM set_config('ticketflow.event_claimed', 'on', true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_claim BEFORE INSERT ON event
    FOR EACH STATEMENT EXECUTE FUNCTION ticketflow_event_claim();
"""

# The highest position a reader may be served: read the sequence first, then the claims still held by other
# sessions. Run it as a statement of its own, before the read of the rows (whose snapshot must come later).
HORIZON = f"""
CREATE OR REPLACE FUNCTION ticketflow_event_horizon() RETURNS bigint AS $$
DECLARE
    drawn bigint;
    oldest_claim bigint;
BEGIN
    drawn := COALESCE(pg_sequence_last_value(pg_get_serial_sequence('event', 'position')::regclass), 0);
    SELECT min(((classid::bigint - {CLAIM_LOCK_CLASS}) << 32) | objid::bigint) INTO oldest_claim
    FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND classid::bigint >= {CLAIM_LOCK_CLASS}
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND pid <> pg_backend_pid();
    RETURN LEAST(drawn, COALESCE(oldest_claim, drawn));
END;
$$ LANGUAGE plpgsql VOLATILE;
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [
        migrations.RunSQL(
            REJECT_UPDATE + REJECT_DELETE_UNLESS_PRUNING + append_only_truncate_sql("event")[0],
            "DROP TRIGGER IF EXISTS event_append_only ON event;"
            "DROP TRIGGER IF EXISTS event_append_only_delete ON event;"
            "DROP FUNCTION IF EXISTS ticketflow_event_reject_delete();" + append_only_truncate_sql("event")[1],
        ),
        migrations.RunSQL(
            NO_CACHE + CLAIM + HORIZON,
            "DROP TRIGGER IF EXISTS event_claim ON event;"
            "DROP FUNCTION IF EXISTS ticketflow_event_claim();"
            "DROP FUNCTION IF EXISTS ticketflow_event_horizon();",
        ),
    ]
