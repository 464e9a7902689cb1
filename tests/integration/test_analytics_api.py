"""The analytics endpoints' contract: who may read them, the date range and its 422s, and a technician's days
(the timeline cut at local midnight, pause limits as they were, open sessions counted up to the read)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.builders import working_since
from tests.support.clock import frozen, nov26, utc
from tests.support.rules import use_rules
from tests.support.sessions import pause, resume, stop

SUMMARY_PATHS = ["/api/v1/analytics/technicians", "/api/v1/analytics/tickets", "/api/v1/analytics/leaderboard"]


def days_path(user) -> str:
    return f"/api/v1/analytics/technicians/{user.pk}/days"


EVENING = nov26(18)


def get(api, user, path, at=EVENING):
    with frozen(at):
        return api.get(path, user)


# --- who may read ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*SUMMARY_PATHS, "days"])
@pytest.mark.parametrize("reader", ["admin", "master", "service"])
def test_admins_masters_and_service_users_read_every_analytics_endpoint(api, request, technician, path, reader):
    user = request.getfixturevalue(reader)
    response = get(api, user, days_path(technician) if path == "days" else path)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", SUMMARY_PATHS)
@pytest.mark.parametrize("reader", ["technician", "inspector", "nobody"])
def test_others_are_refused_the_summaries(api, request, path, reader):
    assert_problem(get(api, request.getfixturevalue(reader), path), 403, "forbidden")


def test_a_technician_reads_their_own_days_and_no_one_else_s(api, technician, other_technician, inspector):
    assert get(api, technician, days_path(technician)).status_code == 200
    assert_problem(get(api, technician, days_path(other_technician)), 403, "forbidden")
    assert_problem(get(api, inspector, days_path(inspector)), 403, "forbidden")  # not a technician


def test_no_token_is_401_and_an_unknown_technician_404(api, admin, technician):
    assert_problem(get(api, None, days_path(technician)), 401, "unauthenticated")
    assert_problem(get(api, admin, "/api/v1/analytics/technicians/999999999/days"), 404, "not_found")


# --- the range ---------------------------------------------------------------------------------------------------


def test_the_default_range_is_the_last_seven_days_today_included_in_the_rules_zone(api, admin):
    use_rules(utc(2026, 11, 1), timezone="America/New_York")
    body = get(api, admin, "/api/v1/analytics/technicians", at=utc(2026, 11, 27, 3)).json()  # 22:00 on the 26th
    assert (body["from"], body["to"], body["timezone"]) == ("2026-11-20", "2026-11-26", "America/New_York")
    tickets = get(api, admin, "/api/v1/analytics/tickets", at=utc(2026, 11, 27, 3)).json()
    assert [day["date"] for day in tickets["per_day"]] == [f"2026-11-{n}" for n in range(20, 27)]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("from=2026-02-30", ["query", "from"]),
        ("to=26-11-2026", ["query", "to"]),
        ("from=1969-12-31&to=1970-01-02", ["query", "from"]),
        ("from=2026-11-27&to=2026-11-26", ["query", "from"]),
        ("from=2025-11-25&to=2026-11-26", ["query", "to"]),  # 367 days
        ("from=" + "9" * 40, ["query", "from"]),
    ],
)
@pytest.mark.parametrize("path", [*SUMMARY_PATHS, "days"])
def test_bad_dates_and_ranges_are_422(api, admin, technician, path, query, loc):
    url = days_path(technician) if path == "days" else path
    assert_validation_problem(get(api, admin, f"{url}?{query}"), loc)


def test_a_range_of_366_days_is_served(api, admin, technician):
    body = get(api, admin, f"{days_path(technician)}?from=2025-11-26&to=2026-11-26").json()
    assert len(body["items"]) == 366
    assert body["items"][0]["date"] == "2025-11-26" and body["items"][-1]["date"] == "2026-11-26"


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_the_leaderboard_limit_is_1_to_100(api, admin, limit):
    assert_validation_problem(get(api, admin, f"/api/v1/analytics/leaderboard?limit={limit}"), ["query", "limit"])


# --- a technician's days -----------------------------------------------------------------------------------------


def test_a_session_across_midnight_is_cut_into_its_days_with_each_day_s_pause_limit(api, admin, shop):
    tech = shop.technician
    use_rules(utc(2026, 11, 20), daily_pause_limit_seconds=1800, timezone="Europe/Berlin")
    ticket = working_since(shop, utc(2026, 11, 26, 22))  # 23:00 in Berlin
    pause(ticket, tech, utc(2026, 11, 26, 22, 50))  # 23:50: ten minutes on the 26th, then the 27th's budget
    resume(ticket, tech, utc(2026, 11, 26, 23, 5))  # 00:05: five minutes on the 27th
    use_rules(utc(2026, 11, 27, 10), daily_pause_limit_seconds=900, timezone="Europe/Berlin")  # for the 28th
    session = stop(ticket, tech, utc(2026, 11, 27, 1))

    body = get(api, admin, f"{days_path(tech)}?from=2026-11-26&to=2026-11-28", at=utc(2026, 11, 28, 12)).json()

    assert (body["technician_id"], body["timezone"]) == (tech.pk, "Europe/Berlin")
    first, second, third = body["items"]
    assert first == {
        "date": "2026-11-26",
        "active_seconds": 3000.0,  # 23:00-23:50
        "paused_seconds": 600.0,
        "pause_limit_seconds": 1800,
        "auto_resumes": 0,
        "intervals": [
            timeline(utc(2026, 11, 26, 22), utc(2026, 11, 26, 22, 50), "running", ticket, session),
            timeline(utc(2026, 11, 26, 22, 50), utc(2026, 11, 26, 23), "paused", ticket, session),
        ],
    }
    assert second["active_seconds"] == 6900.0  # 00:05-02:00
    assert second["paused_seconds"] == 300.0
    assert second["pause_limit_seconds"] == 1800  # the change came at 11:00, after the day began
    assert second["intervals"][0] == timeline(
        utc(2026, 11, 26, 23), utc(2026, 11, 26, 23, 5), "paused", ticket, session
    )
    assert (third["active_seconds"], third["paused_seconds"], third["intervals"]) == (0.0, 0.0, [])
    assert third["pause_limit_seconds"] == 900


def test_an_open_session_counts_up_to_the_read_and_a_due_resume_at_its_deadline(api, admin, shop):
    tech = shop.technician
    use_rules(utc(2026, 11, 20), daily_pause_limit_seconds=600, timezone="UTC")
    ticket = working_since(shop, nov26(10))
    pause(ticket, tech, nov26(10, 30))  # the budget runs out at 10:40; no worker has resumed it yet

    body = get(api, admin, f"{days_path(tech)}?from=2026-11-26&to=2026-11-26", at=nov26(11)).json()
    (day,) = body["items"]
    assert (day["active_seconds"], day["paused_seconds"], day["auto_resumes"]) == (1800 + 1200, 600, 1)
    assert [(i["status"], i["start"], i["end"]) for i in day["intervals"]] == [
        ("running", "2026-11-26T10:00:00Z", "2026-11-26T10:30:00Z"),
        ("paused", "2026-11-26T10:30:00Z", "2026-11-26T10:40:00Z"),
        ("running", "2026-11-26T10:40:00Z", "2026-11-26T11:00:00Z"),
    ]
    summary = get(api, admin, "/api/v1/analytics/technicians?from=2026-11-26&to=2026-11-26", at=nov26(11)).json()
    (mine,) = [item for item in summary["items"] if item["technician_id"] == tech.pk]
    assert (mine["active_seconds"], mine["paused_seconds"], mine["auto_resumes"], mine["sessions"]) == (
        3000,
        600,
        1,
        1,
    )


def test_a_new_york_fall_back_day_has_25_hours_of_running(api, admin, shop):
    tech = shop.technician
    use_rules(utc(2026, 10, 1), timezone="America/New_York")
    zone = ZoneInfo("America/New_York")
    ticket = working_since(shop, utc(2026, 11, 1, 4))  # local midnight, 00:00 EDT
    stop(ticket, tech, utc(2026, 11, 2, 5))  # local midnight, 00:00 EST: 25 hours later
    body = get(api, admin, f"{days_path(tech)}?from=2026-11-01&to=2026-11-01", at=utc(2026, 11, 3)).json()
    assert body["items"][0]["active_seconds"] == 25 * 3600
    assert utc(2026, 11, 2, 5) - utc(2026, 11, 1, 4) == timedelta(hours=25)
    assert utc(2026, 11, 1, 4).astimezone(zone).hour == 0


def timeline(start, end, status, ticket, session) -> dict:
    return {
        "status": status,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "ticket_id": ticket.pk,
        "work_session_id": session.pk,
    }
