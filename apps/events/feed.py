"""The change feed: events after a position, oldest first, never past the horizon. The API, the operators' `events`
command and (later) webhook deliveries all read through `read_page`.

The promise (API.md): a reader that pages with `next_after` sees every event exactly once, positions strictly
increasing. The trap: positions come from a sequence, and `nextval` is not transactional. T1 draws p, T2 draws
p+1 and commits first; a reader that then serves p+1 and moves its cursor past it never sees p, which commits later.

Why the inserting transaction's id alone is not enough: "serve rows whose xid8 is below the oldest transaction in
flight" (pg_snapshot_xmin) holds back T2's p+1 only if T2's id is the younger one. A transaction takes its id at
its first write, which for a command is the ticket UPDATE, long before it draws a position. If T2 wrote first
(older id), then T1 drew p and T2 drew p+1, T2 commits: xmin is T1's id, p+1 has an id below it and is served, and
p is skipped when T1 commits. Ids order transactions by when they started writing, not by the positions they drew.

What a reader must know instead is the lowest position any transaction still in flight may yet commit. Rows in
flight are invisible, so each inserting transaction says it where every session can see it at once: before its
first event row draws a position, a statement trigger (`ticketflow_event_claim`, migration 0002) takes a shared
advisory lock keyed by the sequence's value at that moment, its *floor*, held until commit or rollback. Every
position the transaction draws is above its floor. The reader (`ticketflow_event_horizon`) reads, in this order,
1. `drawn`: the sequence's last value, then
2. `oldest`: the lowest floor among the claims other sessions hold,
and serves positions up to `horizon = min(drawn, oldest)`. Why nothing at or below the horizon can still appear:
- a transaction whose claim the reader saw draws only above its floor, so above `oldest`;
- one whose claim the reader did not see either had released it, so had already committed (PostgreSQL makes a
  commit visible before it releases the transaction's locks) or rolled back; or took it after step 2, and so
  draws after step 1, above `drawn`.
The rows are then read by a later statement, whose snapshot sees every commit made before the horizon was
read. So every position at or below the horizon is committed-and-visible, or will never exist (a rollback); and
every position above it is held back, including p+1 while T1 is in flight. Commit order, as a reader observes it,
is therefore position order: an event enters the feed only once every lower position has committed or vanished,
so a reader never returns a position lower than one it already returned, and `position > after` skips nothing.

A reader's own claims are left out: its own uncommitted rows are visible to it (a test's transaction, say).
This leans on two facts: the sequence hands positions out one at a time (no per-session cache, which migration
0002 pins), and no row enters `event` but through an INSERT, whose statement trigger makes the claim.

The cost: one look at pg_locks per page, and a feed that waits for the slowest open writer (a command's
transaction, or one batch of a rules re-derivation), never for unrelated long transactions. `transaction_id` is
stored on every row all the same: it tells which events one transaction committed together.

The API's pages (`read_page_json`) save the second round trip: both statements go in one message, the first
leaving the horizon in a session setting for the second to read. They are still two statements, run one after the
other, so (at READ COMMITTED, Django's default) the rows are read by a snapshot taken after the horizon was. One
statement could not do it: its snapshot is taken before it computes anything, and a transaction committing in
between would be inside the horizon and invisible to the read.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from apps.events.models import Event, EventType
from apps.events.representations import EVENT_JSON

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class UnknownEventType(ValueError):
    pass


@dataclass(frozen=True)
class FeedFilter:
    types: tuple[str, ...] | None = None  # None: every type
    ticket_id: int | None = None
    technician_id: int | None = None


def matching_types(pattern: str) -> tuple[str, ...]:
    """The event types a pattern names: one type, a prefix ending in `*` (`ticket.*`), or `*` for all.
    Raises UnknownEventType when it names none."""
    if pattern.endswith("*"):
        matched = tuple(value for value in EventType.values if value.startswith(pattern[:-1]))
    else:
        matched = (pattern,) if pattern in EventType.values else ()
    if not matched:
        raise UnknownEventType(f"{pattern!r} names no event type (known: {', '.join(EventType.values)})")
    return matched


def horizon() -> int:
    """The highest position a reader may be served now (see the module docstring). A statement of its own: the
    rows must be read by a later one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ticketflow_event_horizon()")
        return cursor.fetchone()[0]


def read_page(*, after: int, limit: int = DEFAULT_LIMIT, where: FeedFilter = FeedFilter()) -> list[Event]:
    """Events with `after < position <= horizon` that match `where`, oldest first, at most `limit`."""
    upto = horizon()
    if upto <= after:
        return []
    return list(_matching(where).filter(position__gt=after, position__lte=upto).order_by("position")[:limit])


@dataclass(frozen=True)
class JsonPage:
    """A page written by PostgreSQL: `items` is the JSON text of its events (`event_data`), comma-separated."""

    count: int
    last_position: int | None  # None when the page is empty
    items: str


HORIZON_SETTING = "ticketflow.feed_horizon"
# Two statements in one message (Django's psycopg cursors bind parameters client-side, which allows several); the
# second reads the first's horizon through a session setting: see the module docstring.
PAGE_JSON_SQL = f"""
SELECT set_config('{HORIZON_SETTING}', ticketflow_event_horizon()::text, false);
SELECT count(*), max(position), coalesce(string_agg(item, ', ' ORDER BY position), '')
FROM (
    SELECT position, {EVENT_JSON}::text AS item
    FROM event
    WHERE position > %(after)s AND position <= current_setting('{HORIZON_SETTING}')::bigint {{filters}}
    ORDER BY position
    LIMIT %(limit)s
) AS page
"""


def read_page_json(*, after: int, limit: int = DEFAULT_LIMIT, where: FeedFilter = FeedFilter()) -> JsonPage:
    """`read_page`'s events as JSON text, in one round trip to PostgreSQL: for the API, which serves them as they
    are (no Event instances, no parsing of `data` only to write it out again)."""
    filters, params = [], {"after": after, "limit": limit}
    if where.types is not None and len(where.types) < len(EventType.values):
        filters.append("AND type = ANY(%(types)s)")
        params["types"] = list(where.types)
    if where.ticket_id is not None:
        filters.append("AND ticket_id = %(ticket_id)s")
        params["ticket_id"] = where.ticket_id
    if where.technician_id is not None:
        filters.append("AND technician_id = %(technician_id)s")
        params["technician_id"] = where.technician_id
    with connection.cursor() as cursor:
        cursor.execute(PAGE_JSON_SQL.format(filters=" ".join(filters)), params)
        cursor.nextset()  # past the horizon's statement
        count, last_position, items = cursor.fetchone()
    return JsonPage(count=count, last_position=last_position, items=items)


def _matching(where: FeedFilter) -> QuerySet:
    events = Event.objects.all()
    if where.types is not None and len(where.types) < len(EventType.values):
        events = events.filter(type__in=where.types)
    if where.ticket_id is not None:
        events = events.filter(ticket_id=where.ticket_id)
    if where.technician_id is not None:
        events = events.filter(technician_id=where.technician_id)
    return events
