"""QC decisions per quarter hour, kept by PostgreSQL like the read models of 0002_read_models_from_histories, so a
range's per-day pass and fail counts read a few rows per day instead of every decision in it.

`analytics_ticket_quarter` counts per UTC-aligned quarter hour (`date_bin`) the `qc_pass` and `qc_fail` transitions
written in it. A quarter hour, not a day, because the analytics days are local days: every zone's offset today is a
whole number of quarter hours, so each local day is a run of whole quarters (tickets.py reads the history for a range
whose days are not). Rows are added to as in `analytics_person_day`: in place if no other transaction holds the row
(`SKIP LOCKED`), else a new row for the same quarter, so writers never wait for one another; a quarter is the sum of
its rows.

Only the append-only history feeds it, through the existing QC trigger on `ticket_transition`. Tickets created per
day are not counted here: they are read by their flag *now*, and a trigger following every flag change cost a rules
re-derivation of 100,000 tickets 3.7 s more (2.1 s without); the covering index `ticket_created_idx` serves them.
Derived by the view `analytics_ticket_quarter_derived`, rebuilt by `analytics_rebuild_read_models()` (a truncated
history rebuilds it too) and compared by `manage.py check_invariants` (apps/analytics/read_models.py), as the others.
"""

from django.db import migrations

TABLE = """
CREATE TABLE analytics_ticket_quarter (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quarter timestamptz NOT NULL,  -- the start of the quarter hour
    qc_passes integer NOT NULL DEFAULT 0,
    qc_fails integer NOT NULL DEFAULT 0
);
-- Without the counters, so the triggers' updates stay HOT.
CREATE INDEX analytics_ticket_quarter_idx ON analytics_ticket_quarter (quarter);

CREATE FUNCTION analytics_quarter(instant timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT date_bin('15 minutes', instant, TIMESTAMPTZ '2001-01-01 00:00:00+00')
$$;

CREATE VIEW analytics_ticket_quarter_derived AS
SELECT analytics_quarter(created_at) AS quarter, COUNT(*) FILTER (WHERE action = 'qc_pass')::integer AS qc_passes,
       COUNT(*) FILTER (WHERE action = 'qc_fail')::integer AS qc_fails
FROM ticket_transition
WHERE action IN ('qc_pass', 'qc_fail')
GROUP BY quarter;
"""

TRIGGERS = """
CREATE FUNCTION analytics_add_to_ticket_quarter(instant timestamptz, passes_added integer, fails_added integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    at_quarter timestamptz := analytics_quarter(instant);
BEGIN
    UPDATE analytics_ticket_quarter
    SET qc_passes = qc_passes + passes_added, qc_fails = qc_fails + fails_added
    WHERE id = (
        SELECT id FROM analytics_ticket_quarter WHERE quarter = at_quarter LIMIT 1 FOR UPDATE SKIP LOCKED
    );
    IF NOT FOUND THEN
        INSERT INTO analytics_ticket_quarter (quarter, qc_passes, qc_fails)
        VALUES (at_quarter, passes_added, fails_added);
    END IF;
END $$;
"""

# 0002's two functions, each with the quarter's part added (the reverse puts 0002's back).
QC_DECISION = """
CREATE OR REPLACE FUNCTION analytics_record_qc_decision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done analytics_ticket_done;
    failed analytics_qc_fail;
BEGIN
    IF NEW.action = 'qc_pass' THEN
        INSERT INTO analytics_ticket_done SELECT * FROM analytics_ticket_done_derived WHERE pass_id = NEW.id
        RETURNING * INTO done;
        PERFORM analytics_add_to_person_day(done.technician_id, done.done_at, 0, 1, done.first_pass::integer, 0);
        {pass_quarter}
    ELSE
        INSERT INTO analytics_qc_fail SELECT * FROM analytics_qc_fail_derived WHERE fail_id = NEW.id
        RETURNING * INTO failed;
        PERFORM analytics_add_to_person_day(failed.technician_id, failed.failed_at, 0, 0, 0, 1);
        {fail_quarter}
    END IF;
    RETURN NULL;
END $$;
"""

REBUILD = """
CREATE OR REPLACE FUNCTION analytics_rebuild_read_models() RETURNS void LANGUAGE sql AS $$
    TRUNCATE analytics_ticket_done, analytics_qc_fail, analytics_person_day{quarter_table};
    INSERT INTO analytics_ticket_done SELECT * FROM analytics_ticket_done_derived;
    INSERT INTO analytics_qc_fail SELECT * FROM analytics_qc_fail_derived;
    INSERT INTO analytics_person_day (user_id, day, xp, tickets_done, first_pass, qc_fails)
    SELECT user_id, day, xp, tickets_done, first_pass, qc_fails FROM analytics_person_day_derived;{quarter_rows}
$$;
"""

QUARTER_ROWS = """
    INSERT INTO analytics_ticket_quarter (quarter, qc_passes, qc_fails)
    SELECT quarter, qc_passes, qc_fails FROM analytics_ticket_quarter_derived;"""

FORWARD = (
    TABLE
    + TRIGGERS
    + QC_DECISION.format(
        pass_quarter="PERFORM analytics_add_to_ticket_quarter(NEW.created_at, 1, 0);",
        fail_quarter="PERFORM analytics_add_to_ticket_quarter(NEW.created_at, 0, 1);",
    )
    + REBUILD.format(quarter_table=", analytics_ticket_quarter", quarter_rows=QUARTER_ROWS)
    + QUARTER_ROWS.replace(";", ";\n")  # the backfill
)

REVERSE = (
    QC_DECISION.format(pass_quarter="", fail_quarter="")
    + REBUILD.format(quarter_table="", quarter_rows="")
    + """
DROP FUNCTION analytics_add_to_ticket_quarter(timestamptz, integer, integer);
DROP VIEW analytics_ticket_quarter_derived;
DROP FUNCTION analytics_quarter(timestamptz);
DROP TABLE analytics_ticket_quarter;
"""
)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_read_models_from_histories")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
