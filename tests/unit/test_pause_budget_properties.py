"""Pause-budget arithmetic (apps/ticket/pause_budget.py), checked against brute force and DESIGN.md's examples.

Instants are drawn as integer UTC seconds and handed to the code either as UTC datetimes or as the same instants
expressed in the rules' zone: the arithmetic must count real seconds whichever way an instant is written.
Local-day bounds for the brute force are found independently, by searching for the first second whose local
date is the day, rather than with the module's own helpers.
"""

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apps.accounts.models import User
from apps.ticket import pause_budget
from apps.ticket.models import SessionStatus, Ticket, TicketStatus, WorkSession
from apps.ticket.pause_budget import Event, Interval

ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
DAYS = [
    date(2026, 3, 29),  # Berlin springs forward: a 23-hour day
    date(2026, 10, 25),  # Berlin falls back: a 25-hour day
    date(2026, 3, 8),  # New York springs forward
    date(2026, 11, 1),  # New York falls back: a 25-hour day
    date(2026, 6, 15),
    date(2026, 11, 26),
]
LIMIT_1800 = timedelta(seconds=1800)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def instant(seconds: int | float, zone: ZoneInfo | None = None) -> datetime:
    value = datetime.fromtimestamp(seconds, UTC)
    return value.astimezone(zone) if zone is not None else value


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def first_second_of(day: date, zone: ZoneInfo) -> int:
    """The first UTC second whose local date in `zone` is `day` (binary search; local dates only move forward)."""
    lo = epoch(datetime(day.year, day.month, day.day, tzinfo=UTC)) - 2 * 86400
    hi = lo + 4 * 86400
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).date() >= day:
            hi = mid
        else:
            lo = mid + 1
    return lo


def day_starts(day: date, zone: ZoneInfo) -> list[int]:
    return [first_second_of(day + timedelta(days=n), zone) for n in range(-1, 4)]


def offset_changes(lo: int, hi: int, zone: ZoneInfo) -> list[int]:
    """Seconds in [lo, hi) at which the zone's UTC offset changes (DST), to aim pauses at."""
    changes, step = [], 900
    for t in range(lo, hi, step):
        if datetime.fromtimestamp(t, zone).utcoffset() != datetime.fromtimestamp(t + step, zone).utcoffset():
            changes.append(t + step)
    return changes


def overlap(a: int, b: int, lo: int, hi: int) -> int:
    return max(0, min(b, hi) - max(a, lo))


def brute_force_exhaustion(paused_at: int, limit: int, earlier: list[tuple[int, int]], starts: list[int]) -> int:
    """First second s >= paused_at with remaining(s) <= 0, where remaining(s) = limit - (earlier pauses in the
    local day containing s + the part of [paused_at, s] in that day)."""
    used_by_day: dict[int, int] = {}
    s = paused_at
    day_lo = day_hi = None
    while True:
        if day_hi is None or s >= day_hi:
            index = bisect_right(starts, s) - 1
            day_lo, day_hi = starts[index], starts[index + 1]
            if day_lo not in used_by_day:
                used_by_day[day_lo] = sum(overlap(a, b, day_lo, day_hi) for a, b in earlier)
        used = used_by_day[day_lo] + overlap(paused_at, s, day_lo, day_hi)
        if limit - used <= 0:
            return s
        s += 1


@st.composite
def pause_scenarios(draw, zone_name: str):
    zone = ZoneInfo(zone_name)
    day = draw(st.sampled_from(DAYS))
    starts = day_starts(day, zone)
    lo, hi = starts[1], starts[2]
    limit = draw(st.integers(1, 3600))
    anchors = [lo, hi, *offset_changes(lo, hi, zone)]
    near_anchor = st.sampled_from(anchors).flatmap(
        lambda a: st.integers(max(lo, a - limit - 120), max(lo, min(hi - 1, a + 120)))
    )
    # A fresh budget that would run out exactly at (or a second around) a day boundary or a DST change.
    on_edge = st.sampled_from(anchors).flatmap(
        lambda a: st.sampled_from([max(lo, min(hi - 1, a - limit + d)) for d in (-1, 0, 1)])
    )
    paused_at = draw(st.one_of(st.integers(lo, hi - 1), near_anchor, on_edge))
    # Earlier closed pauses, laid out backwards from the new pause; the oldest may start on the previous day.
    earlier, cursor = [], paused_at
    for gap, length in draw(st.lists(st.tuples(st.integers(0, 9000), st.integers(0, limit)), max_size=6)):
        end = cursor - gap
        start = end - length
        if start < lo - 7200:
            break
        earlier.append((start, end))
        cursor = start
    as_local = draw(st.booleans())
    return zone, starts, limit, paused_at, earlier[::-1], (zone if as_local else None)


@pytest.mark.parametrize("zone_name", ZONES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_exhaustion_instant_is_the_first_second_with_no_budget_left(zone_name, data):
    zone, starts, limit, paused_at, earlier, written_in = data.draw(pause_scenarios(zone_name))

    expected = brute_force_exhaustion(paused_at, limit, earlier, starts)
    got = pause_budget.exhaustion_instant(
        paused_at=instant(paused_at, written_in),
        limit=timedelta(seconds=limit),
        zone=zone,
        earlier_pauses=[Interval(instant(a, written_in), instant(b, written_in)) for a, b in earlier],
    )

    assert got == instant(expected)


@pytest.mark.parametrize("zone_name", ZONES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_remaining_in_day_matches_the_brute_force_definition(zone_name, data):
    zone, starts, limit, paused_at, earlier, written_in = data.draw(pause_scenarios(zone_name))
    day_lo, day_hi = starts[1], starts[2]
    now = data.draw(st.integers(paused_at, day_hi - 1))
    pauses = [Interval(instant(a, written_in), instant(b, written_in)) for a, b in earlier]
    pauses.append(Interval(instant(paused_at, written_in), None))
    day = datetime.fromtimestamp(day_lo, zone).date()

    used = sum(overlap(a, b, day_lo, day_hi) for a, b in earlier) + overlap(paused_at, now, day_lo, day_hi)
    got_used = pause_budget.used_in_day(pauses, day, zone, now=instant(now, written_in))
    got_remaining = pause_budget.remaining_in_day(
        pauses, day, zone, limit=timedelta(seconds=limit), now=instant(now, written_in)
    )

    assert got_used == timedelta(seconds=used)
    assert got_remaining == timedelta(seconds=max(0, limit - used))
    assert pause_budget.local_day_bounds(day, zone) == (instant(day_lo), instant(day_hi))


# --- active + paused = elapsed -----------------------------------------------------------------------------


@st.composite
def session_histories(draw):
    """A start, then alternating pause/resume steps, optionally a stop: (statuses, microsecond offsets)."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = draw(st.sampled_from(DAYS))
    start = first_second_of(day, zone) * 1_000_000 + draw(st.integers(0, 86_400 * 1_000_000))
    gaps = draw(st.lists(st.integers(0, 4 * 3600 * 1_000_000), min_size=0, max_size=10))
    stop = draw(st.booleans())
    statuses = [SessionStatus.RUNNING]
    for _ in gaps:
        statuses.append(SessionStatus.PAUSED if statuses[-1] == SessionStatus.RUNNING else SessionStatus.RUNNING)
    if stop:
        gaps.append(draw(st.integers(0, 4 * 3600 * 1_000_000)))
        statuses.append(SessionStatus.STOPPED)
    offsets = [start]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    tail = draw(st.integers(0, 3600 * 1_000_000))
    written_in = zone if draw(st.booleans()) else None
    return statuses, offsets, tail, written_in


def micro_instant(micros: int, zone: ZoneInfo | None) -> datetime:
    value = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return value.astimezone(zone) if zone is not None else value


@PROPERTY_SETTINGS
@given(history=session_histories())
def test_running_plus_paused_time_is_the_elapsed_time(history):
    statuses, offsets, tail, written_in = history
    events = [Event(status, micro_instant(at, written_in)) for status, at in zip(statuses, offsets, strict=True)]
    end = offsets[-1] if statuses[-1] == SessionStatus.STOPPED else offsets[-1] + tail
    until = micro_instant(end, written_in)

    running = pause_budget.total_duration(pause_budget.intervals_in_status(events, SessionStatus.RUNNING), until=until)
    paused = pause_budget.total_duration(pause_budget.intervals_in_status(events, SessionStatus.PAUSED), until=until)

    assert running + paused == timedelta(microseconds=end - offsets[0])


@PROPERTY_SETTINGS
@given(history=session_histories())
def test_a_session_driven_through_its_methods_accounts_for_every_microsecond(history):
    statuses, offsets, tail, written_in = history
    technician = User(pk=7, username="tech")
    ticket = Ticket(status=TicketStatus.IN_PROGRESS, technician=technician)
    at = [micro_instant(value, written_in) for value in offsets]

    session = WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=at[0])
    for status, when in zip(statuses[1:], at[1:], strict=True):
        if status == SessionStatus.PAUSED:
            session.pause(actor=technician, at=when, auto_resume_at=when + LIMIT_1800, remaining_seconds=1800)
        elif status == SessionStatus.RUNNING:
            session.resume(actor=technician, at=when)
        else:
            session.stop(actor=technician, at=when)
    end = offsets[-1] if session.status == SessionStatus.STOPPED else offsets[-1] + tail
    until = micro_instant(end, written_in)

    active = session.recalculate_active_seconds(until=until)
    paused = pause_budget.total_duration(session.pause_intervals(), until=until)
    elapsed = Decimal(end - offsets[0]) / Decimal(1_000_000)

    assert active + Decimal(paused // timedelta(microseconds=1)) / Decimal(1_000_000) == elapsed
    assert session.active_seconds == session.recalculate_active_seconds()
    assert session.status == statuses[-1]


# --- DESIGN.md's worked examples (limit 1800 s) -------------------------------------------------------------

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_example_a_second_pause_gets_what_is_left_of_the_day():
    earlier = [Interval(utc(2026, 11, 26, 10, 0), utc(2026, 11, 26, 10, 20))]
    paused_at = utc(2026, 11, 26, 11, 0)
    day = date(2026, 11, 26)

    remaining = pause_budget.remaining_in_day(earlier, day, UTC_ZONE, limit=LIMIT_1800, now=paused_at)
    deadline = pause_budget.exhaustion_instant(
        paused_at=paused_at, limit=LIMIT_1800, zone=UTC_ZONE, earlier_pauses=earlier
    )

    assert remaining == timedelta(seconds=600)
    assert deadline == utc(2026, 11, 26, 11, 10)


def test_example_a_pause_across_midnight_runs_on_the_new_days_budget():
    earlier = [Interval(utc(2026, 11, 26, 10, 0), utc(2026, 11, 26, 10, 20))]

    deadline = pause_budget.exhaustion_instant(
        paused_at=utc(2026, 11, 26, 23, 55), limit=LIMIT_1800, zone=UTC_ZONE, earlier_pauses=earlier
    )

    assert deadline == utc(2026, 11, 27, 0, 30)
    pauses = [*earlier, Interval(utc(2026, 11, 26, 23, 55), deadline)]
    assert pause_budget.used_in_day(pauses, date(2026, 11, 26), UTC_ZONE, now=deadline) == timedelta(seconds=1500)
    assert pause_budget.used_in_day(pauses, date(2026, 11, 27), UTC_ZONE, now=deadline) == timedelta(seconds=1800)


def test_example_a_pause_starting_with_nothing_left_ends_at_once():
    earlier = [Interval(utc(2026, 11, 26, 10, 0), utc(2026, 11, 26, 10, 30))]
    paused_at = utc(2026, 11, 26, 11, 0)

    remaining = pause_budget.remaining_in_day(earlier, date(2026, 11, 26), UTC_ZONE, limit=LIMIT_1800, now=paused_at)
    deadline = pause_budget.exhaustion_instant(
        paused_at=paused_at, limit=LIMIT_1800, zone=UTC_ZONE, earlier_pauses=earlier
    )

    assert remaining == timedelta(0)
    assert deadline == paused_at


@pytest.mark.parametrize("written_in", [UTC_ZONE, BERLIN])
def test_example_berlin_spring_forward_deadline_is_plain_utc_arithmetic(written_in):
    paused_at = datetime(2026, 3, 29, 1, 50, tzinfo=BERLIN).astimezone(written_in)
    assert paused_at == utc(2026, 3, 29, 0, 50)

    deadline = pause_budget.exhaustion_instant(paused_at=paused_at, limit=LIMIT_1800, zone=BERLIN, earlier_pauses=[])

    assert deadline == utc(2026, 3, 29, 1, 20)
    assert deadline.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 20)
    lo, hi = pause_budget.local_day_bounds(date(2026, 3, 29), BERLIN)
    assert hi - lo == timedelta(hours=23)


@pytest.mark.parametrize("written_in", [NEW_YORK, UTC_ZONE])
def test_example_new_york_fall_back_pause_lasts_real_seconds(written_in):
    start = datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK).astimezone(written_in)
    end = datetime(2026, 11, 1, 3, 0, tzinfo=NEW_YORK).astimezone(written_in)
    events = [Event(SessionStatus.PAUSED, start), Event(SessionStatus.RUNNING, end)]

    paused = pause_budget.total_duration(pause_budget.intervals_in_status(events, SessionStatus.PAUSED))

    assert paused == timedelta(seconds=12600)
    lo, hi = pause_budget.local_day_bounds(date(2026, 11, 1), NEW_YORK)
    assert hi - lo == timedelta(hours=25)
    assert pause_budget.used_in_day([Interval(start, end)], date(2026, 11, 1), NEW_YORK, now=end) == timedelta(
        seconds=12600
    )


@pytest.mark.parametrize(
    ("paused_at", "deadline"),
    [
        (utc(2026, 11, 26, 23, 29, 59), utc(2026, 11, 26, 23, 59, 59)),
        (utc(2026, 11, 26, 23, 30), utc(2026, 11, 27, 0, 30)),  # would end exactly at midnight: a new day begins
        (utc(2026, 11, 26, 23, 30, 1), utc(2026, 11, 27, 0, 30)),
    ],
)
def test_a_budget_running_out_at_midnight_is_renewed_by_the_new_day(paused_at, deadline):
    got = pause_budget.exhaustion_instant(paused_at=paused_at, limit=LIMIT_1800, zone=UTC_ZONE, earlier_pauses=[])
    assert got == deadline


@example(minute=50)
@given(minute=st.integers(0, 59))
@settings(max_examples=30, deadline=None)
def test_a_pause_in_new_yorks_repeated_hour_ends_limit_seconds_later(minute):
    # 01:xx happens twice on 2026-11-01; the first (EDT) occurrence plus 1800 s is real time, not wall time.
    paused_at = datetime(2026, 11, 1, 1, minute, tzinfo=NEW_YORK)

    deadline = pause_budget.exhaustion_instant(paused_at=paused_at, limit=LIMIT_1800, zone=NEW_YORK, earlier_pauses=[])

    assert deadline == paused_at.astimezone(UTC) + LIMIT_1800
