"""Inputs beyond what the service can represent: dates, instants, ids, cursors and limits.

API.md: no input ever produces a 500; dates outside 1970-01-01..9998-12-31 are `422 validation_error` naming the
input. An id in a path that is no bigint names nothing (404); one in a query is out of range (422), and so is a
cursor the API cannot have issued or a limit outside 1..200.
"""

import base64
import json
from datetime import UTC, datetime

import pytest

from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.rules import use_rules

# The zones furthest east and west of UTC (UTC+14, UTC-11): a local day's bounds there reach furthest past the day.
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
HUGE_IDS = [str(2**63), str(2**70), "9" * 5000]


def _cursor(**fields) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


@pytest.fixture(params=ZONES)
def zone(request, db):
    use_rules(datetime.now(UTC), timezone=request.param)
    return request.param


# --- dates -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "1000-06-15", "1969-12-31", "9999-01-01", "9999-12-31"])
def test_a_pause_budget_date_outside_1970_to_9998_is_a_validation_error(api, nobody, technician, zone, day):
    response = api.get(f"/api/v1/technicians/{technician.pk}/pause-budget?date={day}", nobody)

    assert_validation_problem(response, ["query", "date"])


@pytest.mark.parametrize("day", ["1970-01-01", "9998-12-31"])
def test_the_first_and_last_dates_served_have_a_full_budget_in_every_zone(api, nobody, technician, zone, day):
    response = api.get(f"/api/v1/technicians/{technician.pk}/pause-budget?date={day}", nobody)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["date"], body["timezone"], body["used_seconds"], body["remaining_seconds"]) == (day, zone, 0, 1800)


@pytest.mark.parametrize("day", ["20261126", "2026-W48-4", "2026-11-26%20", "%EF%BC%92026-11-26", "+2026-11-26"])
def test_a_pause_budget_date_not_written_yyyy_mm_dd_is_a_validation_error(api, nobody, technician, day):
    response = api.get(f"/api/v1/technicians/{technician.pk}/pause-budget?date={day}", nobody)

    assert_validation_problem(response, ["query", "date"])


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999-23:59"],
    ids=["before_year_1_in_utc", "after_year_9999_in_utc", "far_after_year_9999_in_utc"],
)
def test_an_occurred_at_whose_offset_carries_it_out_of_any_calendar_is_a_validation_error(api, service, instant):
    response = api.command(service, {"type": "ticket.start", "ticket_id": 1, "occurred_at": instant})

    assert_validation_problem(response, ["body", "occurred_at"])


# --- ids in paths and queries ----------------------------------------------------------------------------------------

ID_PATHS = [
    ("GET", "/api/v1/tickets/{}"),
    ("GET", "/api/v1/tickets/{}/transitions"),
    ("GET", "/api/v1/tickets/{}/work-sessions"),
    ("GET", "/api/v1/inventory-items/{}"),
    ("GET", "/api/v1/inventory-items/{}/parts"),
    ("POST", "/api/v1/inventory-items/{}/parts"),
    ("GET", "/api/v1/technicians/{}/xp"),
    ("GET", "/api/v1/technicians/{}/pause-budget"),
    ("GET", "/api/v1/commands/{}"),
]


@pytest.mark.parametrize("number", HUGE_IDS, ids=["2^63", "2^70", "5000_digits"])
@pytest.mark.parametrize(("method", "path"), ID_PATHS, ids=[f"{m} {p}" for m, p in ID_PATHS])
def test_an_id_in_a_path_beyond_any_bigint_is_not_found(api, admin, method, path, number):
    url = path.format(number)
    response = api.post(url, {"name": "brakes"}, admin) if method == "POST" else api.get(url, admin)

    assert_problem(response, 404, "not_found")


ID_QUERIES = [
    ("/api/v1/tickets", "technician_id"),
    ("/api/v1/tickets", "inventory_item_id"),
    ("/api/v1/commands", "ticket_id"),
]


@pytest.mark.parametrize("number", [0, -1, *HUGE_IDS], ids=["zero", "minus_one", "2^63", "2^70", "5000_digits"])
@pytest.mark.parametrize(("path", "name"), ID_QUERIES, ids=[f"{p}?{n}" for p, n in ID_QUERIES])
def test_an_id_in_a_query_outside_bigint_ids_is_a_validation_error(api, admin, path, name, number):
    assert_validation_problem(api.get(f"{path}?{name}={number}", admin), ["query", name])


# --- cursors and limits -------------------------------------------------------------------------------------------

LISTS = [
    "/api/v1/tickets",
    "/api/v1/commands",
    "/api/v1/inventory-items",
    "/api/v1/inventory-items/{item}/parts",
    "/api/v1/tickets/{ticket}/transitions",
    "/api/v1/tickets/{ticket}/work-sessions",
    "/api/v1/technicians/{user}/xp",
]


@pytest.fixture
def lists(shop):
    ticket = shop.create()
    return [path.format(item=shop.item.pk, ticket=ticket.pk, user=shop.technician.pk) for path in LISTS]


@pytest.mark.parametrize(
    "key",
    [0, -1, 2**63, 2**64, -(2**63) - 1, 10**400],
    ids=["zero", "minus_one", "2^63", "2^64", "below_bigint", "huge"],
)
def test_a_cursor_beyond_the_ids_is_a_validation_error_on_every_list(api, admin, lists, key):
    for path in lists:
        cursor = _cursor(k=key, t=0)

        assert_validation_problem(api.get(f"{path}?cursor={cursor}", admin), ["query", "cursor"])


@pytest.mark.parametrize(
    "fields",
    [{"k": 1}, {"k": 1, "t": -1}, {"k": 1, "t": 10**30}, {"k": 1, "t": 1.5}, {"k": 1, "t": True}, {"k": 1, "t": "0"}],
    ids=["no_instant", "before_1970", "beyond_year_9999", "float", "boolean", "string"],
)
def test_an_xp_cursor_with_an_instant_beyond_the_calendar_is_a_validation_error(api, admin, technician, fields):
    response = api.get(f"/api/v1/technicians/{technician.pk}/xp?cursor={_cursor(**fields)}", admin)

    assert_validation_problem(response, ["query", "cursor"])


@pytest.mark.parametrize("limit", ["0", "-1", "201", str(2**63), "9" * 5000, "1e3", "NaN"])
def test_a_limit_outside_1_to_200_is_a_validation_error_on_every_list(api, admin, lists, limit):
    for path in lists:
        assert_validation_problem(api.get(f"{path}?limit={limit}", admin), ["query", "limit"])
