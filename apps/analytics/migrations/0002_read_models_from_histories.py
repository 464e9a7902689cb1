"""Read models that spare the analytics reading whole histories, kept by PostgreSQL from the append-only histories.

- `analytics_ticket_done`: one row per `qc_pass` (a ticket done), with its technician, whether it never failed QC
  and its stage seconds, so the analytics read one row per done ticket instead of its whole history.
- `analytics_qc_fail`: one row per `qc_fail`, with the technician who held the ticket (the last `assigned` before).
- `analytics_person_day`: per person and UTC day, the XP earned, the tickets done (and of them first pass) by the
  ticket's technician and the QC fails on tickets they held. A row is updated in place only if no other transaction
  has it locked (`SKIP LOCKED`); otherwise the trigger appends another row for the same person and day. So writers
  never wait for one another (no lock queue, no deadlock between two QC passes awarding each other's people), and a
  person's day is the sum of its rows.

Each fact is computed by a view over the histories (`..._derived`): the triggers insert the view's row for the new
history row, the backfill below and `analytics_rebuild_read_models()` (for bulk loads made with triggers off) insert
all of them, and `manage.py check_invariants` compares the tables with the views. One definition, so they agree.

No statement is added to the application's write path: AFTER INSERT triggers on `ticket_transition` (only for QC
decisions, by their WHEN clause) and on `xp_entry`; an AFTER TRUNCATE trigger empties the read models with the
histories (the test suite's flush). Also: the automatic-resume index now carries the session id (index-only reads).
"""

from django.db import migrations

TABLES = """
CREATE TABLE analytics_ticket_done (
    pass_id bigint PRIMARY KEY,  -- the qc_pass transition
    ticket_id bigint NOT NULL,
    done_at timestamptz NOT NULL,
    technician_id bigint,
    first_pass boolean NOT NULL,
    review_seconds double precision,
    assignment_seconds double precision,
    start_seconds double precision,
    work_seconds double precision,
    qc_seconds double precision,
    total_seconds double precision
);
CREATE INDEX analytics_ticket_done_at_idx ON analytics_ticket_done (done_at) INCLUDE (
    technician_id, first_pass, review_seconds, assignment_seconds, start_seconds, work_seconds, qc_seconds,
    total_seconds
);

CREATE TABLE analytics_qc_fail (
    fail_id bigint PRIMARY KEY,  -- the qc_fail transition
    ticket_id bigint NOT NULL,
    failed_at timestamptz NOT NULL,
    technician_id bigint
);
CREATE INDEX analytics_qc_fail_at_idx ON analytics_qc_fail (failed_at) INCLUDE (technician_id);

CREATE TABLE analytics_person_day (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL,
    day date NOT NULL,  -- the UTC day of the XP entry, the qc_pass or the qc_fail
    xp bigint NOT NULL DEFAULT 0,
    tickets_done integer NOT NULL DEFAULT 0,
    first_pass integer NOT NULL DEFAULT 0,
    qc_fails integer NOT NULL DEFAULT 0
);
-- Automatic resumes in a range, read from the index alone (their session is then found by its key).
DROP INDEX ws_transition_auto_resume_idx;
CREATE INDEX ws_transition_auto_resume_idx ON work_session_transition (event_at) INCLUDE (session_id)
WHERE action = 'resumed' AND (metadata ->> 'auto_resumed') = 'true';

-- Without the counters, so the triggers' updates stay HOT (no new index entry per award); a month is a few
-- thousand rows to fetch.
CREATE INDEX analytics_person_day_idx ON analytics_person_day (day, user_id);
"""

# The stage sums take their instants as differences from the pass instant, so they stay exact intervals
# (apps/analytics/tickets.py STAGES_DESCRIPTION says what each stage is).
VIEWS = """
CREATE VIEW analytics_ticket_done_derived AS
SELECT p.id AS pass_id, p.ticket_id, p.created_at AS done_at,
       (SELECT t.technician_id FROM ticket AS t WHERE t.id = p.ticket_id) AS technician_id,
       NOT h.failed AS first_pass,
       EXTRACT(EPOCH FROM h.approved - h.created)::double precision AS review_seconds,
       EXTRACT(EPOCH FROM h.assigned - h.approved)::double precision AS assignment_seconds,
       EXTRACT(EPOCH FROM h.started - h.assigned)::double precision AS start_seconds,
       EXTRACT(EPOCH FROM h.work)::double precision AS work_seconds,
       EXTRACT(EPOCH FROM h.qc)::double precision AS qc_seconds,
       EXTRACT(EPOCH FROM h.passed - h.created)::double precision AS total_seconds
FROM ticket_transition AS p
CROSS JOIN LATERAL (
    SELECT bool_or(x.action = 'qc_fail') AS failed,
           MIN(x.created_at) FILTER (WHERE x.action = 'created') AS created,
           MIN(x.created_at) FILTER (WHERE x.action = 'review_approved') AS approved,
           MIN(x.created_at) FILTER (WHERE x.action = 'assigned') AS assigned,
           MIN(x.created_at) FILTER (WHERE x.action = 'started') AS started,
           MAX(x.created_at) FILTER (WHERE x.action = 'qc_pass') AS passed,
           SUM(CASE x.action WHEN 'to_waiting_qc' THEN x.created_at - p.created_at
                             WHEN 'started' THEN p.created_at - x.created_at END) AS work,
           SUM(CASE WHEN x.action IN ('qc_pass', 'qc_fail') THEN x.created_at - p.created_at
                    WHEN x.action = 'to_waiting_qc' THEN p.created_at - x.created_at END) AS qc
    FROM ticket_transition AS x
    WHERE x.ticket_id = p.ticket_id
) AS h
WHERE p.action = 'qc_pass';

CREATE VIEW analytics_qc_fail_derived AS
SELECT f.id AS fail_id, f.ticket_id, f.created_at AS failed_at, held.technician_id
FROM ticket_transition AS f
CROSS JOIN LATERAL (
    SELECT (a.metadata ->> 'technician_id')::bigint AS technician_id
    FROM ticket_transition AS a
    WHERE a.ticket_id = f.ticket_id AND a.action = 'assigned' AND (a.created_at, a.id) < (f.created_at, f.id)
    ORDER BY a.created_at DESC, a.id DESC
    LIMIT 1
) AS held
WHERE f.action = 'qc_fail';

CREATE VIEW analytics_person_day_derived AS
SELECT user_id, day, SUM(xp)::bigint AS xp, SUM(tickets_done)::integer AS tickets_done,
       SUM(first_pass)::integer AS first_pass, SUM(qc_fails)::integer AS qc_fails
FROM (
    SELECT user_id, (created_at AT TIME ZONE 'UTC')::date AS day, amount AS xp, 0 AS tickets_done, 0 AS first_pass,
           0 AS qc_fails
    FROM xp_entry
    UNION ALL
    SELECT technician_id, (done_at AT TIME ZONE 'UTC')::date, 0, 1, first_pass::integer, 0
    FROM analytics_ticket_done_derived WHERE technician_id IS NOT NULL
    UNION ALL
    SELECT technician_id, (failed_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 1
    FROM analytics_qc_fail_derived WHERE technician_id IS NOT NULL
) AS figures
GROUP BY user_id, day;
"""

TRIGGERS = """
CREATE FUNCTION analytics_add_to_person_day(
    person bigint, instant timestamptz, xp_added bigint, done_added integer, first_pass_added integer,
    fails_added integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    utc_day date := (instant AT TIME ZONE 'UTC')::date;
BEGIN
    IF person IS NULL THEN
        RETURN;  -- a ticket done or failed with no technician: no one's figures (the reads skip them too)
    END IF;
    UPDATE analytics_person_day
    SET xp = xp + xp_added, tickets_done = tickets_done + done_added, first_pass = first_pass + first_pass_added,
        qc_fails = qc_fails + fails_added
    WHERE id = (
        SELECT id FROM analytics_person_day WHERE user_id = person AND day = utc_day LIMIT 1 FOR UPDATE SKIP LOCKED
    );
    IF NOT FOUND THEN
        INSERT INTO analytics_person_day (user_id, day, xp, tickets_done, first_pass, qc_fails)
        VALUES (person, utc_day, xp_added, done_added, first_pass_added, fails_added);
    END IF;
END $$;

CREATE FUNCTION analytics_record_qc_decision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done analytics_ticket_done;
    failed analytics_qc_fail;
BEGIN
    IF NEW.action = 'qc_pass' THEN
        INSERT INTO analytics_ticket_done SELECT * FROM analytics_ticket_done_derived WHERE pass_id = NEW.id
        RETURNING * INTO done;
        PERFORM analytics_add_to_person_day(done.technician_id, done.done_at, 0, 1, done.first_pass::integer, 0);
    ELSE
        INSERT INTO analytics_qc_fail SELECT * FROM analytics_qc_fail_derived WHERE fail_id = NEW.id
        RETURNING * INTO failed;
        PERFORM analytics_add_to_person_day(failed.technician_id, failed.failed_at, 0, 0, 0, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_qc_decision AFTER INSERT ON ticket_transition
FOR EACH ROW WHEN (NEW.action IN ('qc_pass', 'qc_fail')) EXECUTE FUNCTION analytics_record_qc_decision();

CREATE FUNCTION analytics_record_xp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_add_to_person_day(NEW.user_id, NEW.created_at, NEW.amount, 0, 0, 0);
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_xp AFTER INSERT ON xp_entry FOR EACH ROW EXECUTE FUNCTION analytics_record_xp();

-- For bulk loads written with triggers off (session_replication_role = replica, as a restore): rebuilt whole.
CREATE FUNCTION analytics_rebuild_read_models() RETURNS void LANGUAGE sql AS $$
    TRUNCATE analytics_ticket_done, analytics_qc_fail, analytics_person_day;
    INSERT INTO analytics_ticket_done SELECT * FROM analytics_ticket_done_derived;
    INSERT INTO analytics_qc_fail SELECT * FROM analytics_qc_fail_derived;
    INSERT INTO analytics_person_day (user_id, day, xp, tickets_done, first_pass, qc_fails)
    SELECT user_id, day, xp, tickets_done, first_pass, qc_fails FROM analytics_person_day_derived;
$$;

-- A history emptied (only the test suite's flush may: the tables are append-only) empties what derives from it.
CREATE FUNCTION analytics_follow_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_rebuild_read_models();
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_follow_truncate AFTER TRUNCATE ON ticket_transition
FOR EACH STATEMENT EXECUTE FUNCTION analytics_follow_truncate();
CREATE TRIGGER analytics_follow_truncate AFTER TRUNCATE ON xp_entry
FOR EACH STATEMENT EXECUTE FUNCTION analytics_follow_truncate();

SELECT analytics_rebuild_read_models();
"""

DROP = """
DROP TRIGGER analytics_follow_truncate ON xp_entry;
DROP TRIGGER analytics_follow_truncate ON ticket_transition;
DROP FUNCTION analytics_follow_truncate();
DROP TRIGGER analytics_xp ON xp_entry;
DROP TRIGGER analytics_qc_decision ON ticket_transition;
DROP FUNCTION analytics_rebuild_read_models();
DROP FUNCTION analytics_record_xp();
DROP FUNCTION analytics_record_qc_decision();
DROP FUNCTION analytics_add_to_person_day(bigint, timestamptz, bigint, integer, integer, integer);
DROP VIEW analytics_person_day_derived, analytics_qc_fail_derived, analytics_ticket_done_derived;
DROP TABLE analytics_person_day, analytics_qc_fail, analytics_ticket_done;
DROP INDEX ws_transition_auto_resume_idx;
CREATE INDEX ws_transition_auto_resume_idx ON work_session_transition (event_at)
WHERE action = 'resumed' AND (metadata ->> 'auto_resumed') = 'true';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_history_indexes"),
        ("ticket", "0006_admin_labels"),
        ("xp", "0004_manual_adjustment"),
    ]

    operations = [migrations.RunSQL(TABLES + VIEWS + TRIGGERS, reverse_sql=DROP)]
