"""The feed's pages are written by PostgreSQL (apps/events/representations.py, EVENT_JSON); webhook deliveries and
the `events` command build the same events in Python (`event_data`). Both must say the same thing, to the value."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.events.feed import read_page
from apps.events.representations import event_data

FEED = "/api/v1/events"

INSERT = """
INSERT INTO event (id, type, occurred_at, recorded_at, ticket_id, technician_id, actor_id, command_id, data)
VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
"""
ODD_DATA = {
    "text": 'quotes " and \\ backslash, tab\t, newline\n, control \u0001, naïve café, emoji 🚲, <tag> & amp',
    "numbers": [0, -1, 2**53, 1.5, 0.1, 1e-7, 12345678.875],
    "nested": {"empty": {}, "list": [], "null": None, "flags": [True, False]},
    "": "an empty key",
}
ROWS = [
    # type, occurred_at, recorded_at, ticket_id, technician_id, actor_id, command_id, data
    ("ticket.created", datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC),
     1, None, None, None, "{}"),
    ("ticket.started", datetime(2026, 3, 1, 8, 0, 0, 1, tzinfo=UTC), datetime(2026, 3, 1, 8, 0, 1, 500000, tzinfo=UTC),
     2**62, 7, 7, str(uuid.uuid4()), ODD_DATA),
    ("rules.changed", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
     None, None, 3, None, {"version": 2, "config": {"timezone": "Europe/Berlin"}}),
]  # fmt: skip


@pytest.fixture
def odd_events(db):
    with connection.cursor() as cursor:
        for row in ROWS:
            data = row[-1] if isinstance(row[-1], str) else json.dumps(row[-1])
            cursor.execute(INSERT, [*row[:-1], data])


def test_a_feed_page_is_event_data_of_each_event(api, admin, odd_events):
    response = api.get(FEED, admin, data={"limit": 1000})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    expected = [event_data(event) for event in read_page(after=0, limit=1000)]
    assert len(expected) == len(ROWS)
    assert response.json() == {"items": expected, "next_after": expected[-1]["position"]}
    assert [item["occurred_at"] for item in response.json()["items"]] == [
        "2026-03-01T08:00:00Z", "2026-03-01T08:00:00.000001Z", "1999-12-31T23:59:59.999999Z",
    ]  # fmt: skip
    assert response.json()["items"][1]["data"] == ODD_DATA


def test_an_empty_page_keeps_its_after(api, admin, odd_events):
    last = read_page(after=0, limit=1000)[-1].position

    assert api.get(FEED, admin, data={"after": last}).json() == {"items": [], "next_after": last}
    assert api.get(FEED, admin, data={"after": last - 1, "type": "ticket.*"}).json() == {
        "items": [],
        "next_after": last - 1,
    }
