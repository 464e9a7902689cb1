"""A month of shop history for the analytics scenario, bulk-built in SQL in a database of its own.

Per batch of `count` tickets: `count / 500` new technicians (so each works 17 half-hour slots a day, 500 in all,
over the 30 days before today), one inventory item each, and per ticket: the full history to `done` (one in ten
failed QC once and went through a second session), ten session transitions (pauses and resumes; one ticket in ten
ends its last pause with an automatic resume) and its XP entries. Plus, per technician, today's ticket in progress
with a session open since ten minutes ago (half of them paused). Loaded with triggers off (as a restore would):
every row is written the way the services write it, in order; then the analytics read models are rebuilt from the
histories, as the migration that made them did.
"""

from datetime import datetime, timedelta

import psycopg

from tests.support.bulk import user_insert

SLOTS_PER_TECHNICIAN = 500
SLOTS_PER_DAY = 17
DAYS = 30


def load(conn: psycopg.Connection, tag: str, count: int, *, now: datetime, staff: dict) -> dict:
    """Adds `count` tickets' history (see above) and returns what it wrote."""
    technicians = max(count // SLOTS_PER_TECHNICIAN, 1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)  # UTC rules: local days are UTC days
    params = {
        "tag": tag,
        "count": count,
        "technicians": technicians,
        "first_day": today - timedelta(days=DAYS),
        "at": now,
        "per_day": SLOTS_PER_DAY,
        **staff,
    }
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # no triggers, no FK checks: a restore
        statement, defaults = user_insert(
            username="'an-' || %(tag)s || '-tech-' || g",
            roles="ARRAY['technician']::varchar(20)[]",
            source="FROM generate_series(1, %(technicians)s) AS g",
        )
        conn.execute(statement, {**params, **defaults})
        for sql in (ITEMS, PLAN, TICKETS, TICKET_HISTORY, SESSIONS, SESSION_HISTORY, XP, OPEN_NOW):
            conn.execute(sql, params)
        conn.execute("DROP TABLE analytics_plan")
        # With triggers off the read models (apps/analytics/read_models.py) did not follow: rebuilt from the histories.
        conn.execute("SELECT analytics_rebuild_read_models()")
    counts = {}
    for table in ("ticket", "ticket_transition", "work_session", "work_session_transition", "xp_entry"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts


ITEMS = """
INSERT INTO inventory_item (serial_number, name, category, status, created_at)
SELECT 'AN-' || %(tag)s || '-' || g, 'Bench bike ' || g, 'bike', 'in_service', %(first_day)s
FROM generate_series(1, %(technicians)s) AS g
"""

# One row per ticket: its technician, item, slot start `s`, and whether it went through rework (k % 10 = 1) or
# ended a pause with an automatic resume (k % 10 = 0); ids drawn from the tables' sequences.
PLAN = """
CREATE TEMP TABLE analytics_plan AS
SELECT k, u.id AS technician_id, item.id AS item_id,
       %(first_day)s + ((k / %(technicians)s) / %(per_day)s) * interval '1 day' + interval '7 hours'
           + ((k / %(technicians)s) %% %(per_day)s) * interval '30 minutes' AS s,
       k %% 10 = 1 AS rework, k %% 10 = 0 AS auto,
       20 + (k %% 7) * 10 AS minutes,
       nextval(pg_get_serial_sequence('ticket', 'id')) AS ticket_id,
       nextval(pg_get_serial_sequence('work_session', 'id')) AS session_a,
       nextval(pg_get_serial_sequence('work_session', 'id')) AS session_b
FROM generate_series(0, %(count)s - 1) AS k
JOIN accounts_user AS u ON u.username = 'an-' || %(tag)s || '-tech-' || (k %% %(technicians)s + 1)
JOIN inventory_item AS item ON item.serial_number = 'AN-' || %(tag)s || '-' || (k %% %(technicians)s + 1)
"""

TICKETS = """
INSERT INTO ticket (id, title, status, approved_at, assigned_at, started_at, finished_at, total_duration,
                    flag_minutes, flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at,
                    approved_by_id, inventory_item_id, master_id, technician_id)
SELECT ticket_id, 'Bench ticket ' || k, 'done', s - interval '90 minutes', s - interval '60 minutes', s,
       s + interval '25 minutes', minutes, minutes,
       CASE WHEN minutes <= 30 THEN 'green' WHEN minutes <= 60 THEN 'yellow' ELSE 'red' END,
       ceil(minutes / 20.0), false, s - interval '2 hours', s + interval '25 minutes', NULL,
       %(admin)s, item_id, %(master)s, technician_id
FROM analytics_plan
"""

TICKET_HISTORY = """
INSERT INTO ticket_transition (action, from_status, to_status, note, metadata, created_at, actor_id, ticket_id)
SELECT step.action, step.from_status, step.to_status, '',
       CASE WHEN step.action = 'assigned' THEN jsonb_build_object('technician_id', p.technician_id) ELSE '{}' END,
       p.s + step.offset_by,
       CASE WHEN step.action IN ('started', 'to_waiting_qc') THEN p.technician_id
            WHEN step.action IN ('qc_pass', 'qc_fail') THEN %(inspector)s
            WHEN step.action = 'review_approved' THEN %(admin)s ELSE %(master)s END,
       p.ticket_id
FROM analytics_plan AS p
CROSS JOIN (VALUES
    ('created', NULL, 'under_review', interval '-2 hours', 'all'),
    ('review_approved', 'under_review', 'new', interval '-90 minutes', 'all'),
    ('assigned', 'new', 'assigned', interval '-60 minutes', 'all'),
    ('started', 'assigned', 'in_progress', interval '0', 'all'),
    ('to_waiting_qc', 'in_progress', 'waiting_qc', interval '8 minutes 1 second', 'rework'),
    ('qc_fail', 'waiting_qc', 'rework', interval '9 minutes 30 seconds', 'rework'),
    ('started', 'rework', 'in_progress', interval '10 minutes', 'rework'),
    ('to_waiting_qc', 'in_progress', 'waiting_qc', interval '20 minutes 1 second', 'all'),
    ('qc_pass', 'waiting_qc', 'done', interval '25 minutes', 'all')
) AS step (action, from_status, to_status, offset_by, applies)
WHERE step.applies = 'all' OR (step.applies = 'rework' AND p.rework)
ORDER BY p.ticket_id, step.offset_by
"""

# A plain ticket: one session of 20 minutes with four one-minute pauses (960 s running). A reworked one: a session
# of 8 minutes with one pause (420 s), then one of 10 minutes with two (480 s).
SESSIONS = """
INSERT INTO work_session (id, status, started_at, ended_at, active_seconds, auto_resume_at, updated_at, deleted_at,
                          technician_id, ticket_id)
SELECT session.id, 'stopped', p.s + session.opened, p.s + session.closed, session.active, NULL,
       p.s + session.closed, NULL, p.technician_id, p.ticket_id
FROM analytics_plan AS p
CROSS JOIN LATERAL (VALUES
    (p.session_a, interval '0', CASE WHEN p.rework THEN interval '8 minutes' ELSE interval '20 minutes' END,
     CASE WHEN p.rework THEN 420 ELSE 960 END, true),
    (p.session_b, interval '10 minutes', interval '20 minutes', 480, p.rework)
) AS session (id, opened, closed, active, kept)
WHERE session.kept
"""

SESSION_HISTORY = """
INSERT INTO work_session_transition (action, from_status, to_status, event_at, metadata, actor_id, session_id)
SELECT step.action, step.from_status, step.to_status, p.s + step.offset_by,
       CASE WHEN p.auto AND step.offset_by = interval '16 minutes'
            THEN jsonb_build_object('auto_resumed', true, 'reason', 'daily_pause_limit_reached')
            ELSE '{}' END,
       CASE WHEN p.auto AND step.offset_by = interval '16 minutes' THEN NULL ELSE p.technician_id END,
       CASE WHEN step.session = 'b' THEN p.session_b ELSE p.session_a END
FROM analytics_plan AS p
CROSS JOIN (VALUES
    ('a', 'started', NULL, 'running', interval '0', 'all'),
    ('a', 'paused', 'running', 'paused', interval '3 minutes', 'all'),
    ('a', 'resumed', 'paused', 'running', interval '4 minutes', 'all'),
    ('a', 'stopped', 'running', 'stopped', interval '8 minutes', 'rework'),
    ('a', 'paused', 'running', 'paused', interval '7 minutes', 'plain'),
    ('a', 'resumed', 'paused', 'running', interval '8 minutes', 'plain'),
    ('a', 'paused', 'running', 'paused', interval '11 minutes', 'plain'),
    ('a', 'resumed', 'paused', 'running', interval '12 minutes', 'plain'),
    ('a', 'paused', 'running', 'paused', interval '15 minutes', 'plain'),
    ('a', 'resumed', 'paused', 'running', interval '16 minutes', 'plain'),
    ('a', 'stopped', 'running', 'stopped', interval '20 minutes', 'plain'),
    ('b', 'started', NULL, 'running', interval '10 minutes', 'rework'),
    ('b', 'paused', 'running', 'paused', interval '13 minutes', 'rework'),
    ('b', 'resumed', 'paused', 'running', interval '14 minutes', 'rework'),
    ('b', 'paused', 'running', 'paused', interval '16 minutes', 'rework'),
    ('b', 'resumed', 'paused', 'running', interval '17 minutes', 'rework'),
    ('b', 'stopped', 'running', 'stopped', interval '20 minutes', 'rework')
) AS step (session, action, from_status, to_status, offset_by, applies)
WHERE step.applies = 'all' OR (step.applies = 'rework') = p.rework
ORDER BY p.ticket_id, step.session, step.offset_by
"""

XP = """
INSERT INTO xp_entry (kind, amount, reference, created_at, ticket_id, user_id)
SELECT entry.kind, entry.amount, 'an-' || %(tag)s || '-' || p.k || '-' || entry.name, p.s + entry.offset_by,
       p.ticket_id, entry.user_id
FROM analytics_plan AS p
CROSS JOIN LATERAL (VALUES
    ('base', 'ticket_base_xp', ceil(p.minutes / 20.0)::int, p.technician_id, interval '25 minutes', true),
    ('bonus', 'ticket_first_pass_bonus', 1, p.technician_id, interval '25 minutes', NOT p.rework),
    ('qc-fail', 'qc_status_update', 1, %(inspector)s, interval '9 minutes 30 seconds', p.rework),
    ('qc-pass', 'qc_status_update', 1, %(inspector)s, interval '25 minutes', true)
) AS entry (name, kind, amount, user_id, offset_by, kept)
WHERE entry.kept
"""

# Today, per technician: a ticket in progress and its session open for ten minutes, every other one paused.
OPEN_NOW = """
WITH opened AS (
    INSERT INTO ticket (title, status, approved_at, assigned_at, started_at, finished_at, total_duration,
                        flag_minutes, flag_color, xp_amount, is_manual, created_at, updated_at, deleted_at,
                        approved_by_id, inventory_item_id, master_id, technician_id)
    SELECT 'Bench ticket today ' || g, 'in_progress', %(at)s - interval '40 minutes', %(at)s - interval '30 minutes',
           %(at)s - interval '10 minutes', NULL, 45, 45, 'yellow', 3, false, %(at)s - interval '50 minutes',
           %(at)s - interval '10 minutes', NULL, %(admin)s, item.id, %(master)s, u.id
    FROM generate_series(1, %(technicians)s) AS g
    JOIN accounts_user AS u ON u.username = 'an-' || %(tag)s || '-tech-' || g
    JOIN inventory_item AS item ON item.serial_number = 'AN-' || %(tag)s || '-' || g
    RETURNING id, technician_id
),
steps AS (
    INSERT INTO ticket_transition (action, from_status, to_status, note, metadata, created_at, actor_id, ticket_id)
    SELECT step.action, step.from_status, step.to_status, '',
           CASE WHEN step.action = 'assigned' THEN jsonb_build_object('technician_id', o.technician_id) ELSE '{}' END,
           %(at)s + step.offset_by, %(master)s, o.id
    FROM opened AS o
    CROSS JOIN (VALUES
        ('created', NULL, 'under_review', interval '-50 minutes'),
        ('review_approved', 'under_review', 'new', interval '-40 minutes'),
        ('assigned', 'new', 'assigned', interval '-30 minutes'),
        ('started', 'assigned', 'in_progress', interval '-10 minutes')
    ) AS step (action, from_status, to_status, offset_by)
    RETURNING 1
),
sessions AS (
    INSERT INTO work_session (status, started_at, ended_at, active_seconds, auto_resume_at, updated_at, deleted_at,
                              technician_id, ticket_id)
    SELECT CASE WHEN o.id %% 2 = 0 THEN 'paused' ELSE 'running' END, %(at)s - interval '10 minutes', NULL,
           CASE WHEN o.id %% 2 = 0 THEN 300 ELSE 0 END,
           CASE WHEN o.id %% 2 = 0 THEN %(at)s + interval '25 minutes' END, %(at)s - interval '5 minutes', NULL,
           o.technician_id, o.id
    FROM opened AS o
    RETURNING id, status, technician_id
)
INSERT INTO work_session_transition (action, from_status, to_status, event_at, metadata, actor_id, session_id)
SELECT step.action, step.from_status, step.to_status, %(at)s + step.offset_by, '{}', s.technician_id, s.id
FROM sessions AS s
CROSS JOIN (VALUES
    ('started', NULL, 'running', interval '-10 minutes', false),
    ('paused', 'running', 'paused', interval '-5 minutes', true)
) AS step (action, from_status, to_status, offset_by, only_paused)
WHERE NOT step.only_paused OR s.status = 'paused'
"""
