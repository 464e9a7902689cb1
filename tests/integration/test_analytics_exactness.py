"""Exactness, as a property: over generated work histories around DST changes (Europe/Berlin, America/New_York and
UTC), a technician's days are the session transitions clipped to each local day, to the microsecond; each session's
running plus paused time is its elapsed time; a day's paused time is what the pause-budget endpoint says was used
(once due automatic resumes are applied: the analytics count them from their deadlines even before); the range
summary is the sum of the days.

The expected figures are brute force from the stored transitions, with local days found independently (the first
whole UTC hour whose local date is the day: these zones change offset and start their days on whole hours).
"""

from collections import defaultdict
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.common.errors import DomainError
from apps.ticket import services_work_session as sessions
from apps.ticket.models import WorkSession, WorkSessionTransition
from tests.support.builders import Shop, working_since, workplace
from tests.support.clock import at_instant, frozen
from tests.support.factories import TechnicianFactory
from tests.support.rules import use_rules

pytestmark = pytest.mark.django_db

DST_DAYS = {
    "Europe/Berlin": [date(2026, 3, 29), date(2026, 10, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "UTC": [date(2026, 11, 26)],
}
# One limit for every example: their rules versions share the database, and the limit in force at a day's start is
# whichever came last before it. Small, so budgets run out and automatic resumes happen.
LIMIT = 600
ACTIONS = {
    "pause": sessions.pause_work_session,
    "resume": sessions.resume_work_session,
    "stop": sessions.stop_work_session,
    "start": sessions.start_work_session,
}

histories = st.fixed_dictionaries(
    {
        "zone_day": st.sampled_from([(zone, day) for zone, days in DST_DAYS.items() for day in days]),
        "start_offset": st.integers(min_value=-8 * 3600, max_value=20 * 3600),  # from the DST day's local midnight
        "steps": st.lists(
            st.tuples(st.sampled_from(list(ACTIONS)), st.integers(min_value=1, max_value=4 * 3600)), max_size=10
        ),
        "read_after": st.integers(min_value=0, max_value=3 * 3600),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_days_are_the_transitions_clipped_to_local_days_and_agree_with_the_budget(api, admin, master, history):
    zone_name, dst_day = history["zone_day"]
    zone = ZoneInfo(zone_name)
    started = day_start(dst_day, zone) + timedelta(seconds=history["start_offset"])
    use_rules(started - timedelta(days=2), daily_pause_limit_seconds=LIMIT, timezone=zone_name)
    technician = TechnicianFactory()
    item, parts = workplace()
    ticket = working_since(Shop(admin=admin, master=master, technician=technician, item=item, parts=parts), started)
    at = started
    for action, gap in history["steps"]:
        at += timedelta(seconds=gap)
        with suppress(DomainError):  # refused (nothing to resume, no budget left, ...): the history stays as it was
            at_instant(at, lambda now, act=ACTIONS[action]: act(ticket_id=ticket.pk, actor=technician, at=now))
    now = at + timedelta(seconds=history["read_after"])
    first, last = started.astimezone(zone).date(), now.astimezone(zone).date()
    span = f"from={first}&to={last}"

    days_path = f"/api/v1/analytics/technicians/{technician.pk}/days?{span}"
    with frozen(now):
        days = api.get(days_path, admin).json()["items"]
        summary = api.get(f"/api/v1/analytics/technicians?{span}", admin).json()["items"]
    steps = brute_force_steps(technician, now)
    # A due automatic resume no worker has applied yet: analytics already end the pause at its deadline, so
    # applying it changes nothing there; the budget counts it once it is recorded.
    for session in WorkSession.objects.filter(technician=technician, status="paused", auto_resume_at__lte=now):
        at_instant(now, lambda clock, pk=session.pk: sessions.auto_resume_work_session(session_id=pk, at=clock))
    with frozen(now):
        assert api.get(days_path, admin).json()["items"] == days
        budgets = {
            day["date"]: api.get(f"/api/v1/technicians/{technician.pk}/pause-budget?date={day['date']}", admin).json()
            for day in days
        }

    for day in days:
        lo, hi = day_start(date.fromisoformat(day["date"]), zone), day_start(next_day(day["date"]), zone)
        for status, field in (("running", "active_seconds"), ("paused", "paused_seconds")):
            expected = sum((overlap(s, e, lo, hi) for st_, s, e, _ in steps if st_ == status), timedelta(0))
            assert day[field] == expected.total_seconds(), (day["date"], status)
        assert day["pause_limit_seconds"] == LIMIT
        budget = budgets[day["date"]]
        assert budget["used_seconds"] == min(int(day["paused_seconds"]), budget["limit_seconds"])
        for interval in day["intervals"]:
            assert lo <= parse(interval["start"]) < parse(interval["end"]) <= hi

    per_session = defaultdict(float)
    for day in days:
        for interval in day["intervals"]:
            per_session[interval["work_session_id"]] += (
                parse(interval["end"]) - parse(interval["start"])
            ).total_seconds()
    for session in WorkSession.objects.filter(technician=technician):
        elapsed = ((session.ended_at or now) - session.started_at).total_seconds()
        assert per_session[session.pk] == pytest.approx(elapsed, abs=1e-6)

    (mine,) = [item for item in summary if item["technician_id"] == technician.pk]
    assert mine["active_seconds"] == pytest.approx(sum(d["active_seconds"] for d in days), abs=1e-6)
    assert mine["paused_seconds"] == pytest.approx(sum(d["paused_seconds"] for d in days), abs=1e-6)
    assert mine["auto_resumes"] == sum(d["auto_resumes"] for d in days)
    assert mine["sessions"] == WorkSession.objects.filter(technician=technician).count()


def brute_force_steps(technician, now: datetime) -> list[tuple[str, datetime, datetime, int]]:
    """(status, start, end, session) from the stored transitions, one after another; an open step ends at `now`,
    and a pause whose deadline passed unapplied ends at the deadline (where the resume will be recorded)."""
    steps = []
    for session in WorkSession.objects.filter(technician=technician):
        rows = list(WorkSessionTransition.objects.filter(session=session).order_by("event_at", "id"))
        for row, following in zip(rows, [*rows[1:], None], strict=True):
            if row.to_status == "stopped":
                continue
            end = following.event_at if following else now
            if following is None and row.to_status == "paused" and session.auto_resume_at <= now:
                steps.append(("paused", row.event_at, session.auto_resume_at, session.pk))
                steps.append(("running", session.auto_resume_at, now, session.pk))
                continue
            steps.append((row.to_status, row.event_at, end, session.pk))
    return steps


def day_start(day: date, zone: ZoneInfo) -> datetime:
    hour = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=16)
    while hour.astimezone(zone).date() < day:
        hour += timedelta(hours=1)
    return hour


def next_day(text: str) -> date:
    return date.fromisoformat(text) + timedelta(days=1)


def overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> timedelta:
    return max(timedelta(0), min(end, hi) - max(start, lo))


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
