"""An event as API.md shows it: built in Python from an `Event` (webhook deliveries, the `events` command), or by
PostgreSQL as JSON text (the feed's pages and webhook bodies, `event_json_sql`). The two must say the same thing:
tests/integration/test_events_feed_body.py compares them."""

from apps.common.time import isoformat_utc
from apps.events.models import Event


def event_data(event: Event) -> dict:
    return {
        "position": event.position,
        "id": str(event.id),
        "type": event.type,
        "occurred_at": isoformat_utc(event.occurred_at),
        "recorded_at": isoformat_utc(event.recorded_at),
        "ticket_id": event.ticket_id,
        "technician_id": event.technician_id,
        "actor_id": event.actor_id,
        "command_id": None if event.command_id is None else str(event.command_id),
        "data": event.data,
    }


def utc_text_sql(column: str) -> str:
    """SQL for `isoformat_utc(column)`: microseconds only when there are some, as Python's isoformat writes them."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        f" || CASE WHEN date_trunc('second', {column}) = {column} THEN '' ELSE to_char({utc}, '.US') END || 'Z'"
    )


def event_json_sql(table: str = "") -> str:
    """`event_data` of a row of `event` (named `table`, when the statement joins others), as json with its keys in
    the same order. A page of the feed is a hundred of these; PostgreSQL writes them faster than Python can parse
    `data` and dump it again."""
    t = f"{table}." if table else ""
    return f"""json_build_object(
    'position', {t}position, 'id', {t}id, 'type', {t}type,
    'occurred_at', {utc_text_sql(f"{t}occurred_at")}, 'recorded_at', {utc_text_sql(f"{t}recorded_at")},
    'ticket_id', {t}ticket_id, 'technician_id', {t}technician_id, 'actor_id', {t}actor_id,
    'command_id', {t}command_id, 'data', {t}data)"""


EVENT_JSON = event_json_sql()
