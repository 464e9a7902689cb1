"""The daily pause budget on a frozen clock: rules set through `change_rules`, deadlines re-derived on rules changes,
and automatic resumes recorded at the deadline however late they are applied (DESIGN.md, "Work sessions")."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from apps.audit.invariants import find_violations
from apps.common.errors import ErrorCode
from apps.ticket import services_rules_change as rules_change
from apps.ticket import services_work_session as sessions
from apps.ticket.models import WorkSession
from tests.support.assertions import refused
from tests.support.builders import another_workplace, working_since
from tests.support.clock import at_instant, nov26, utc
from tests.support.records import reloaded, steps
from tests.support.rules import use_rules
from tests.support.sessions import budget, expected_budget, pause, resume, stop

NOV_26 = date(2026, 11, 26)
NOV_27 = date(2026, 11, 27)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def paused_metadata(session: WorkSession) -> dict:
    return session.transitions.filter(action="paused").order_by("event_at", "id").last().metadata


def recompute(changed_at: datetime, now: datetime) -> int:
    return at_instant(now, lambda clock: rules_change.recompute_pause_deadlines(changed_at=changed_at))


def auto_resume(session: WorkSession, now: datetime):
    return at_instant(now, lambda clock: sessions.auto_resume_work_session(session_id=session.pk, at=clock))


# --- (a) one budget shared by the pauses of a day ------------------------------------------------------------------


def test_the_budget_is_split_across_the_pauses_of_a_day(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))

    pause(ticket, tech, nov26(10))
    resume(ticket, tech, nov26(10, 10))  # 600 s
    between = budget(tech, NOV_26, nov26(10, 30))
    assert (between.used_seconds, between.remaining_seconds, between.paused_session_id) == (600, 1200, None)
    pause(ticket, tech, nov26(11))
    resume(ticket, tech, nov26(11, 5))  # 300 s
    third = reloaded(pause(ticket, tech, nov26(12)))

    assert third.auto_resume_at == nov26(12, 15)  # exactly the 900 s that are left
    assert paused_metadata(third) == {"remaining_pause_seconds_today": 900, "auto_resume_at": "2026-11-26T12:15:00Z"}
    assert budget(tech, NOV_26, nov26(12, 5)) == expected_budget(
        tech, NOV_26, used=1200, remaining=600, paused_session=third, auto_resume_at=nov26(12, 15)
    )

    assert auto_resume(third, nov26(12, 20)) is not None
    assert budget(tech, NOV_26, nov26(12, 30)) == expected_budget(tech, NOV_26, used=1800, remaining=0)
    with refused(ErrorCode.PAUSE_BUDGET_EXHAUSTED):
        pause(ticket, tech, nov26(13))
    session = reloaded(third)
    assert (session.status, session.auto_resume_at) == ("running", None)
    assert [action for action, _, _ in steps(session)] == ["started", *["paused", "resumed"] * 3]


# --- (b) local midnight in UTC ---------------------------------------------------------------------------------------


def test_a_pause_crossing_midnight_runs_on_the_new_days_budget(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    pause(ticket, tech, nov26(10))
    resume(ticket, tech, nov26(10, 20))  # 1200 s used today

    session = reloaded(pause(ticket, tech, nov26(23, 55)))

    # 600 s would end at 00:05, but the day ends at 00:00 and the new day's 1800 s take over.
    assert session.auto_resume_at == utc(2026, 11, 27, 0, 30)
    assert paused_metadata(session)["remaining_pause_seconds_today"] == 600
    midway = budget(tech, NOV_27, utc(2026, 11, 27, 0, 10))
    assert (midway.used_seconds, midway.remaining_seconds, midway.paused_session_id) == (600, 1200, session.pk)

    auto_resume(session, utc(2026, 11, 27, 1))
    yesterday = budget(tech, NOV_26, utc(2026, 11, 27, 1))
    today = budget(tech, NOV_27, utc(2026, 11, 27, 1))
    assert (yesterday.used_seconds, yesterday.remaining_seconds) == (1500, 300)
    assert (today.used_seconds, today.remaining_seconds) == (1800, 0)
    with refused(ErrorCode.PAUSE_BUDGET_EXHAUSTED):
        pause(ticket, tech, utc(2026, 11, 27, 1, 30))

    next_day = reloaded(pause(ticket, tech, utc(2026, 11, 28, 9)))
    assert next_day.auto_resume_at == utc(2026, 11, 28, 9, 30)


# --- (c) Europe/Berlin, 2026-03-29: a 23-hour day --------------------------------------------------------------------


def test_berlins_short_day_deadline_is_plain_utc_arithmetic(shop):
    tech = shop.technician
    use_rules(utc(2026, 3, 28, 12), daily_pause_limit_seconds=1800, timezone="Europe/Berlin")
    ticket = working_since(shop, utc(2026, 3, 29, 0))  # 01:00 CET

    session = reloaded(pause(ticket, tech, utc(2026, 3, 29, 0, 50)))  # 01:50 CET, ten minutes before the jump

    assert session.auto_resume_at == utc(2026, 3, 29, 1, 20)
    assert session.auto_resume_at.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 20)  # CEST
    report = budget(tech, date(2026, 3, 29), utc(2026, 3, 29, 1))
    assert (report.timezone, report.used_seconds, report.remaining_seconds) == ("Europe/Berlin", 600, 1200)


def test_berlins_short_day_ends_at_local_midnight_in_summer_time(shop):
    tech = shop.technician
    use_rules(utc(2026, 3, 28, 12), daily_pause_limit_seconds=1800, timezone="Europe/Berlin")
    ticket = working_since(shop, utc(2026, 3, 29, 19))
    pause(ticket, tech, utc(2026, 3, 29, 20))
    resume(ticket, tech, utc(2026, 3, 29, 20, 20))  # 1200 s used on the 29th (22:00-22:20 CEST)

    session = reloaded(pause(ticket, tech, utc(2026, 3, 29, 21, 55)))  # 23:55 CEST

    # The 23-hour day ends at 22:00 UTC (00:00 CEST); counting it as a 24-hour day would give 22:05 UTC.
    assert session.auto_resume_at == utc(2026, 3, 29, 22, 30)
    auto_resume(session, utc(2026, 3, 29, 23))
    assert budget(tech, date(2026, 3, 29), utc(2026, 3, 29, 23)).used_seconds == 1500
    assert budget(tech, date(2026, 3, 30), utc(2026, 3, 29, 23)).used_seconds == 1800


# --- (d) America/New_York, 2026-11-01: a 25-hour day -----------------------------------------------------------------


def test_a_pause_through_the_repeated_hour_counts_real_seconds(shop):
    tech = shop.technician
    use_rules(utc(2026, 10, 31, 12), daily_pause_limit_seconds=4 * 3600, timezone="America/New_York")
    ticket = working_since(shop, utc(2026, 11, 1, 4))  # 00:00 EDT

    session = reloaded(pause(ticket, tech, utc(2026, 11, 1, 4, 30)))  # 00:30 EDT
    assert session.auto_resume_at == utc(2026, 11, 1, 8, 30)
    resume(ticket, tech, utc(2026, 11, 1, 8))  # 03:00 EST
    assert utc(2026, 11, 1, 8).astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 11, 1, 3)

    report = budget(tech, date(2026, 11, 1), utc(2026, 11, 1, 9))
    assert (report.used_seconds, report.remaining_seconds) == (12600, 14400 - 12600)  # not 9000: wall clocks lie


def test_new_yorks_long_day_ends_at_local_midnight_in_standard_time(shop):
    tech = shop.technician
    use_rules(utc(2026, 10, 31, 12), daily_pause_limit_seconds=4 * 3600, timezone="America/New_York")
    ticket = working_since(shop, utc(2026, 11, 1, 4))
    pause(ticket, tech, utc(2026, 11, 1, 4, 30))
    resume(ticket, tech, utc(2026, 11, 1, 8))  # 12600 s used on Nov 1

    session = reloaded(pause(ticket, tech, utc(2026, 11, 2, 4, 50)))  # 23:50 EST, still Nov 1

    # 1800 s left would end at 05:20 UTC, but Nov 1 ends at 05:00 UTC (00:00 EST): then Nov 2's 4 hours.
    assert paused_metadata(session)["remaining_pause_seconds_today"] == 1800
    assert session.auto_resume_at == utc(2026, 11, 2, 9)


# --- (e) a rules change while paused ---------------------------------------------------------------------------------


def two_at_work(shop):
    """Under 1800 s a day (UTC): the shop's technician at work since 09:00, another since 09:30 on an item of their
    own. Returns (technician, ticket) for each."""
    other_tech, other_item, other_parts = another_workplace()
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    first = working_since(shop, nov26(9))
    second = working_since(shop, nov26(9, 30), technician=other_tech, item=other_item, parts=other_parts)
    return (shop.technician, first), (other_tech, second)


def test_lowering_the_budget_mid_pause_moves_deadlines_earlier_but_never_before_the_change(shop):
    (tech, first), (other_tech, second) = two_at_work(shop)
    a = pause(first, tech, nov26(10))  # due 10:30
    b = pause(second, other_tech, nov26(10, 15))  # due 10:45

    change = use_rules(nov26(10, 20), daily_pause_limit_seconds=600, timezone="UTC")
    moved = recompute(changed_at=change.created_at, now=nov26(10, 20))

    assert moved == 2
    # a has paused 1200 s already: 600 s would have ended at 10:10, before anyone knew of the new rules.
    assert reloaded(a).auto_resume_at == nov26(10, 20) == change.created_at
    assert reloaded(b).auto_resume_at == nov26(10, 25)
    assert recompute(changed_at=change.created_at, now=nov26(10, 21)) == 0
    # The pause's own record keeps what was promised when it began; the session row holds the current deadline.
    assert paused_metadata(reloaded(a))["auto_resume_at"] == "2026-11-26T10:30:00Z"


def test_raising_the_budget_mid_pause_moves_the_deadline_later(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    session = pause(ticket, tech, nov26(10))

    change = use_rules(nov26(10, 20), daily_pause_limit_seconds=3600, timezone="UTC")

    assert recompute(changed_at=change.created_at, now=nov26(10, 20)) == 1
    assert reloaded(session).auto_resume_at == nov26(11)
    assert budget(tech, NOV_26, nov26(10, 40)).remaining_seconds == 1200


def test_a_budget_that_ran_out_before_a_rules_change_stays_spent(shop):
    """The resume is due at the old deadline whether or not a job applied it before the change."""
    (tech, first), (other_tech, second) = two_at_work(shop)
    a = pause(first, tech, nov26(10))  # due 10:30, and no job has applied it yet
    b = pause(second, other_tech, nov26(10, 40))  # due 11:10

    raised = use_rules(nov26(11), daily_pause_limit_seconds=7200, timezone="UTC")
    assert recompute(changed_at=raised.created_at, now=nov26(11)) == 1

    assert reloaded(a).auto_resume_at == nov26(10, 30)
    assert reloaded(b).auto_resume_at == nov26(12, 40)
    lowered = use_rules(nov26(11, 5), daily_pause_limit_seconds=600, timezone="UTC")
    assert recompute(changed_at=lowered.created_at, now=nov26(11, 5)) == 1
    assert reloaded(a).auto_resume_at == nov26(10, 30)  # not pushed later to the change
    assert reloaded(b).auto_resume_at == nov26(11, 5)

    auto_resume(a, nov26(11, 6))
    resumed = reloaded(a).transitions.get(action="resumed")
    assert (resumed.event_at, resumed.actor_id) == (nov26(10, 30), None)


def test_a_rules_change_after_midnight_keeps_the_new_days_budget_of_a_pause_that_crossed_it(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    pause(ticket, tech, nov26(10))
    resume(ticket, tech, nov26(10, 25))  # 1500 s used on Nov 26
    session = pause(ticket, tech, nov26(23, 55))
    assert reloaded(session).auto_resume_at == utc(2026, 11, 27, 0, 30)  # Nov 26's 300 s, then Nov 27's 1800 s

    change_at = utc(2026, 11, 27, 0, 5)
    lowered = use_rules(change_at, daily_pause_limit_seconds=600, timezone="UTC")
    assert recompute(changed_at=lowered.created_at, now=change_at) == 1

    # Under 600 s Nov 26's budget ran out before the pause began, but the change came on Nov 27, whose 600 s the
    # pause has drawn on since midnight: 300 s by the change, 300 s left.
    assert reloaded(session).auto_resume_at == utc(2026, 11, 27, 0, 10)
    assert find_violations(now=change_at) == []
    assert recompute(changed_at=lowered.created_at, now=utc(2026, 11, 27, 0, 6)) == 0

    auto_resume(session, utc(2026, 11, 27, 0, 11))
    assert budget(tech, NOV_27, utc(2026, 11, 27, 1)).used_seconds == 600


def test_a_rules_change_after_midnight_resumes_at_the_change_when_the_new_day_is_spent_too(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    pause(ticket, tech, nov26(10))
    resume(ticket, tech, nov26(10, 25))
    session = pause(ticket, tech, nov26(23, 55))

    change_at = utc(2026, 11, 27, 0, 15)
    lowered = use_rules(change_at, daily_pause_limit_seconds=600, timezone="UTC")
    assert recompute(changed_at=lowered.created_at, now=change_at) == 1

    assert reloaded(session).auto_resume_at == change_at  # Nov 27's 600 s ran out at 00:10, before the change
    assert find_violations(now=change_at) == []


def test_a_rules_change_after_berlins_short_day_draws_on_the_day_that_began_at_its_midnight(shop):
    tech = shop.technician
    use_rules(utc(2026, 3, 28, 12), daily_pause_limit_seconds=1800, timezone="Europe/Berlin")
    ticket = working_since(shop, utc(2026, 3, 29, 19))
    pause(ticket, tech, utc(2026, 3, 29, 20))
    resume(ticket, tech, utc(2026, 3, 29, 20, 25))  # 1500 s used on the 29th
    session = pause(ticket, tech, utc(2026, 3, 29, 21, 55))  # 23:55 CEST; the 23-hour day ends at 22:00 UTC

    change_at = utc(2026, 3, 29, 22, 5)  # 00:05 CEST on the 30th
    lowered = use_rules(change_at, daily_pause_limit_seconds=600, timezone="Europe/Berlin")
    assert recompute(changed_at=lowered.created_at, now=change_at) == 1

    assert reloaded(session).auto_resume_at == utc(2026, 3, 29, 22, 10)
    assert find_violations(now=change_at) == []


# --- (f) a rules change of time zone ---------------------------------------------------------------------------------


def test_a_new_time_zone_moves_the_deadline_to_its_own_midnight(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    pause(ticket, tech, nov26(10))
    resume(ticket, tech, nov26(10, 20))  # 1200 s used
    session = pause(ticket, tech, nov26(14, 55))
    assert reloaded(session).auto_resume_at == nov26(15, 5)  # UTC: the day still has 600 s

    change = use_rules(nov26(14, 58), daily_pause_limit_seconds=1800, timezone="Asia/Tokyo")
    assert recompute(changed_at=change.created_at, now=nov26(14, 58)) == 1

    # 14:55 UTC is 23:55 in Tokyo: that day ends at 15:00 UTC and the next one brings a full budget.
    assert reloaded(session).auto_resume_at == nov26(15, 30)
    report = budget(tech, NOV_26, nov26(14, 59))
    assert (report.timezone, report.used_seconds, report.remaining_seconds) == ("Asia/Tokyo", 1440, 360)


def test_a_new_time_zone_can_put_earlier_pauses_on_the_same_local_day(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(22))
    pause(ticket, tech, nov26(23))
    resume(ticket, tech, nov26(23, 20))  # 1200 s on Nov 26 UTC
    session = pause(ticket, tech, utc(2026, 11, 27, 2))
    assert reloaded(session).auto_resume_at == utc(2026, 11, 27, 2, 30)  # a new UTC day

    change = use_rules(utc(2026, 11, 27, 2, 5), daily_pause_limit_seconds=1800, timezone="America/New_York")
    assert recompute(changed_at=change.created_at, now=utc(2026, 11, 27, 2, 5)) == 1

    # In New York both pauses fall on Nov 26 (18:00 and 21:00 EST): 600 s were left.
    assert reloaded(session).auto_resume_at == utc(2026, 11, 27, 2, 10)


# --- (g) the automatic resume, applied late ------------------------------------------------------------------------


def test_a_late_auto_resume_is_recorded_at_the_deadline(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9, 4))
    session = pause(ticket, tech, nov26(10))
    much_later = utc(2026, 11, 27, 3, 0, 7)

    outcome = auto_resume(session, much_later)

    assert (outcome.ticket.pk, outcome.work_session.pk) == (ticket.pk, session.pk)
    session = reloaded(session)
    assert (session.status, session.auto_resume_at) == ("running", None)
    resumed = session.transitions.get(action="resumed")
    assert (resumed.event_at, resumed.actor_id, resumed.from_status) == (nov26(10, 30), None, "paused")
    assert resumed.metadata == {
        "auto_resumed": True,
        "reason": "daily_pause_limit_reached",
        "scheduled_for": "2026-11-26T10:30:00Z",
        "applied_at": "2026-11-27T03:00:07Z",
    }
    assert datetime.fromisoformat(resumed.metadata["applied_at"]) == much_later
    assert session.active_seconds == Decimal(56 * 60)  # as of the resume: running from 09:04 to 10:00
    assert budget(tech, NOV_26, much_later).used_seconds == 1800
    assert auto_resume(session, much_later) is None


def test_a_stop_after_the_deadline_first_applies_the_resume_at_the_deadline(shop):
    tech = shop.technician
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9, 4))
    pause(ticket, tech, nov26(10))  # due 10:30; no job has run

    session = reloaded(stop(ticket, tech, nov26(11)))

    assert steps(session) == [
        ("started", nov26(9, 4), tech.pk),
        ("paused", nov26(10), tech.pk),
        ("resumed", nov26(10, 30), None),
        ("stopped", nov26(11), tech.pk),
    ]
    assert session.transitions.get(action="resumed").metadata["applied_at"] == "2026-11-26T11:00:00Z"
    assert (session.status, session.ended_at, session.auto_resume_at) == ("stopped", nov26(11), None)
    assert session.active_seconds == Decimal(56 * 60 + 30 * 60)  # active again from the deadline, not from 11:00
    assert auto_resume(session, nov26(11, 1)) is None
    assert not WorkSession.domain.paused_due(nov26(11, 1)).exists()
