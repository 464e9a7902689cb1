"""From the feed to delivery rows: per active webhook, the events after its cursor become pending deliveries.

The dispatcher reads through the feed (apps/events/feed.py), so it never passes an event that is still in flight
and commits late: each webhook's cursor only moves over positions the feed has served, and it moves in the same
transaction that stores the deliveries, so a crash either stores both or neither. The webhook row is locked for
that transaction (SKIP LOCKED): two dispatchers never work one webhook at once.
"""

import json

from django.conf import settings
from django.db import connection, transaction

from apps.common.db import prepared_cursor
from apps.events.feed import HORIZON_SETTING, matching_types

DISPATCH_BATCH = 500
EVERY_TYPE = "*"


def types_of(event_types: list[str]) -> tuple[str, ...] | None:
    """The event types a webhook's patterns name (None: every type)."""
    if EVERY_TYPE in event_types:
        return None
    return tuple(sorted({name for pattern in event_types for name in matching_types(pattern)}))


# The active webhooks no other dispatcher holds, locked to this transaction's end; and, in the same message, the
# feed's horizon left in a transaction-local setting for the next statement (whose snapshot is taken after it was
# read: apps/events/feed.py).
_LOCK_WEBHOOKS = f"""
SELECT set_config('{HORIZON_SETTING}', ticketflow_event_horizon()::text, true);
SELECT id, cursor, event_types FROM webhook WHERE active ORDER BY id FOR UPDATE SKIP LOCKED
"""

# Per locked webhook, the events after its cursor up to the horizon that it wants (at most `batch`) become pending
# deliveries, due at once, and its cursor moves: to the last event taken when the page is full (more may follow),
# else to the horizon (every wanted event up to it is taken). One statement for every webhook: the deliveries are
# written by PostgreSQL from the events' own columns, never loaded into Python.
# The ordering key (API.md): one ticket's events in order; without a ticket, one technician's; with neither, none.
_CREATE_DELIVERIES = f"""
WITH hook AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(cursors)s::bigint[], %(types)s::text[]) AS h (id, cursor, types)
), served AS (
    SELECT current_setting('{HORIZON_SETTING}')::bigint AS upto
), page AS (
    SELECT h.id AS webhook_id, e.*
    FROM hook h CROSS JOIN served CROSS JOIN LATERAL (
        SELECT position, id, type, recorded_at, ticket_id, technician_id FROM event
        WHERE position > h.cursor AND position <= served.upto
          AND (h.types IS NULL OR type = ANY(string_to_array(h.types, ',')))
        ORDER BY position
        LIMIT %(batch)s
    ) e
), created AS (
    INSERT INTO webhook_delivery (
        webhook_id, event_position, event_id, event_type, event_recorded_at, order_key, redelivery, status, attempts,
        next_attempt_at, give_up_at)
    SELECT webhook_id, position, id, type, recorded_at,
           CASE WHEN ticket_id IS NOT NULL THEN 't' || ticket_id
                WHEN technician_id IS NOT NULL THEN 'u' || technician_id END,
           0, 'pending', 0, recorded_at, recorded_at + make_interval(secs => %(retry_window)s)
    FROM page
    ON CONFLICT DO NOTHING
    RETURNING 1
), taken AS (
    SELECT h.id, count(p.position) AS events,
           CASE WHEN count(p.position) = %(batch)s THEN max(p.position) ELSE greatest(max(served.upto), max(p.position))
           END AS cursor
    FROM hook h CROSS JOIN served LEFT JOIN page p ON p.webhook_id = h.id
    GROUP BY h.id
), moved AS (
    UPDATE webhook w SET cursor = t.cursor FROM taken t WHERE w.id = t.id AND t.cursor > w.cursor
)
SELECT (SELECT count(*) FROM created), coalesce(max(events), 0) = %(batch)s FROM taken
"""


def dispatch_all(*, batch: int = DISPATCH_BATCH) -> int:
    """Create the deliveries of every active webhook no other dispatcher holds. Returns how many were created."""
    created = 0
    while True:
        made, page_full = _dispatch_once(batch)
        created += made
        if not page_full:
            return created


def _dispatch_once(batch: int) -> tuple[int, bool]:
    """One transaction: every webhook it could lock gets up to `batch` deliveries. (How many were created, whether
    a webhook's page was full: more may follow.)"""
    with transaction.atomic():
        with connection.cursor() as cursor:  # two statements in one message: bound on the client
            cursor.execute(_LOCK_WEBHOOKS)
            cursor.nextset()
            hooks = cursor.fetchall()
        if not hooks:
            return 0, False
        # Django has psycopg hand jsonb over as text (its JSONField decodes it), so the patterns come as JSON text.
        types = [types_of(json.loads(event_types)) for _, _, event_types in hooks]
        params = {
            "ids": [pk for pk, _, _ in hooks],
            "cursors": [position for _, position, _ in hooks],
            "types": [",".join(names) if names is not None else None for names in types],  # types have no comma
            "batch": batch,
            "retry_window": settings.WEBHOOK_RETRY_WINDOW_SECONDS,
        }
        with prepared_cursor() as cursor:
            cursor.execute(_CREATE_DELIVERIES, params)
            created, page_full = cursor.fetchone()
    return created, page_full
