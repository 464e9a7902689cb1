"""The analytics date range (apps/analytics/ranges.py) and the local days it is cut into."""

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from apps.analytics.ranges import requested_range
from apps.common.problems import Problem
from apps.ticket import pause_budget

NOW = datetime(2026, 11, 27, 3, tzinfo=UTC)  # 22:00 on the 26th in New York, 04:00 on the 27th in Berlin


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        ("America/New_York", date(2026, 11, 20), date(2026, 11, 26)),
        ("Europe/Berlin", date(2026, 11, 21), date(2026, 11, 27)),
    ],
)
def test_by_default_the_range_is_the_last_seven_local_days_today_included(zone, first, last):
    span = requested_range(None, None, timezone=zone, now=NOW)
    assert (span.first, span.last, len(span.days)) == (first, last, 7)
    assert span.start == pause_budget.local_day_bounds(first, ZoneInfo(zone))[0]
    assert span.end == pause_budget.local_day_bounds(last, ZoneInfo(zone))[1]


def test_one_end_given_the_other_follows():
    assert (requested_range("2026-11-01", None, timezone="UTC", now=NOW).last) == date(2026, 11, 27)
    assert requested_range(None, "2026-11-03", timezone="UTC", now=NOW).first == date(2026, 10, 28)
    assert requested_range(None, "1970-01-02", timezone="UTC", now=NOW).first == date(1970, 1, 1)


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "loc"),
    [
        ("2026-13-01", None, "from"),
        ("2026-1-1", None, "from"),
        (None, "tomorrow", "to"),
        ("2026-11-27", "2026-11-26", "from"),
        ("2025-11-25", "2026-11-26", "to"),  # 367 days
    ],
)
def test_bad_dates_and_ranges_are_validation_problems(raw_from, raw_to, loc):
    with pytest.raises(Problem) as caught:
        requested_range(raw_from, raw_to, timezone="UTC", now=NOW)
    assert caught.value.status == 422
    assert caught.value.errors[0]["loc"] == ["query", loc]


def test_366_days_is_the_longest_range():
    assert len(requested_range("2025-11-27", "2026-11-27", timezone="UTC", now=NOW).days) == 366


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("UTC", date(2026, 11, 1), 24),
    ],
)
def test_local_days_follow_the_zone_s_clock_changes_and_tile_the_range(zone, day, hours):
    days = pause_budget.local_days(day - timedelta(days=1), day + timedelta(days=1), ZoneInfo(zone))
    assert [d.day for d in days] == [day - timedelta(days=1), day, day + timedelta(days=1)]
    assert days[1].end - days[1].start == timedelta(hours=hours)
    assert all(a.end == b.start for a, b in pairwise(days))
    assert all(d.start.astimezone(ZoneInfo(zone)).time().hour == 0 for d in days)
