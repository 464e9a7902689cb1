"""Work-session services and the daily pause budget against PostgreSQL (rules: 1800 s a day, UTC, unless changed)."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from apps.common import time as clock
from apps.common.errors import ErrorCode
from apps.rules.services import change_rules
from apps.ticket import selectors
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import WorkSession
from tests.support.assertions import refused
from tests.support.clock import utc
from tests.support.records import reloaded, steps
from tests.support.sessions import expected_budget

DAY = date(2026, 11, 26)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 26, month: int = 11) -> datetime:
    return utc(2026, month, day, hour, minute, second)


@pytest.fixture
def working(shop):
    """A ticket in progress; its session has been running since 09:04."""
    outcome = shop.started()
    assert outcome.work_session.started_at == at(9, 4)
    return outcome.ticket


# The steps run on the real process clock: a service that read the clock instead of `at` would fail these tests.


def pause(shop, ticket, when, technician=None):
    return sessions.pause_work_session(ticket_id=ticket.pk, actor=technician or shop.technician, at=when).work_session


def resume(shop, ticket, when, technician=None):
    return sessions.resume_work_session(ticket_id=ticket.pk, actor=technician or shop.technician, at=when).work_session


def stop(shop, ticket, when, technician=None):
    return sessions.stop_work_session(ticket_id=ticket.pk, actor=technician or shop.technician, at=when).work_session


def commit_rules(django_capture_on_commit_callbacks, **work_session):
    """A rules change as it commits: its on-commit publish runs."""
    with django_capture_on_commit_callbacks(execute=True):
        change_rules(config={"work_session": work_session}, reason="test", changed_by=None)


# --- the basic cycle ------------------------------------------------------------------------------------------


def test_pause_resume_stop_record_history_and_re_derive_active_time(shop, working):
    pause(shop, working, at(10))
    resume(shop, working, at(10, 20))
    session = stop(shop, working, at(11))

    session = reloaded(session)
    assert (session.status, session.ended_at, session.auto_resume_at) == ("stopped", at(11), None)
    assert session.active_seconds == Decimal(56 * 60 + 40 * 60)
    tech = shop.technician.pk
    assert steps(session) == [
        ("started", at(9, 4), tech),
        ("paused", at(10), tech),
        ("resumed", at(10, 20), tech),
        ("stopped", at(11), tech),
    ]


def test_a_further_session_can_be_opened_on_an_in_progress_ticket(shop, working):
    first = stop(shop, working, at(12))

    second = sessions.start_work_session(ticket_id=working.pk, actor=shop.technician, at=at(9, day=27)).work_session

    assert second.pk != first.pk
    assert (reloaded(second).status, reloaded(first).status) == ("running", "stopped")
    assert WorkSession.objects.filter(ticket=working).count() == 2


# --- refusals -------------------------------------------------------------------------------------------------


def test_session_commands_are_refused_without_an_open_session(shop, working):
    stop(shop, working, at(10))
    for command in (sessions.pause_work_session, sessions.resume_work_session, sessions.stop_work_session):
        with refused(ErrorCode.NO_OPEN_SESSION):
            command(ticket_id=working.pk, actor=shop.technician, at=at(11))


def test_session_commands_are_refused_on_a_ticket_that_never_started(shop):
    ticket = shop.assigned()
    with refused(ErrorCode.NO_OPEN_SESSION):
        pause(shop, ticket, at(10))


def test_session_commands_are_refused_for_a_missing_ticket(shop):
    for command in (sessions.pause_work_session, sessions.start_work_session):
        with refused(ErrorCode.NOT_FOUND):
            command(ticket_id=10**9, actor=shop.technician, at=at(10))


def test_resuming_a_running_session_is_refused(shop, working):
    with refused(ErrorCode.INVALID_TRANSITION):
        resume(shop, working, at(10))


def test_pausing_a_paused_session_is_refused(shop, working):
    pause(shop, working, at(10))
    with refused(ErrorCode.INVALID_TRANSITION):
        pause(shop, working, at(10, 5))
    assert reloaded(WorkSession.objects.get(ticket=working)).auto_resume_at == at(10, 30)


def test_only_the_assigned_technician_controls_the_session(shop, working, other_technician):
    for command in (
        sessions.pause_work_session,
        sessions.resume_work_session,
        sessions.stop_work_session,
        sessions.start_work_session,
    ):
        with refused(ErrorCode.NOT_ASSIGNED_TECHNICIAN):
            command(ticket_id=working.pk, actor=other_technician, at=at(10))
    assert WorkSession.objects.get(ticket=working).status == "running"


def test_a_further_session_is_refused_while_one_is_open(shop, working):
    with refused(ErrorCode.TECHNICIAN_BUSY):
        sessions.start_work_session(ticket_id=working.pk, actor=shop.technician, at=at(10))
    assert WorkSession.objects.filter(ticket=working).count() == 1


def test_a_further_session_is_refused_while_the_technician_works_on_another_ticket(
    shop, working, other_item, other_item_part
):
    stop(shop, working, at(10))
    other = shop.assigned(item=other_item, parts=[other_item_part])
    workflow.start_ticket(ticket_id=other.pk, actor=shop.technician, at=at(10, 5))

    with refused(ErrorCode.TECHNICIAN_BUSY):
        sessions.start_work_session(ticket_id=working.pk, actor=shop.technician, at=at(10, 10))


@pytest.mark.parametrize("stage", ["assigned", "waiting_qc"])
def test_a_further_session_is_refused_unless_the_ticket_is_in_progress(shop, stage):
    ticket = getattr(shop, stage)()
    with refused(ErrorCode.INVALID_TRANSITION):
        sessions.start_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())


# --- the pause budget -----------------------------------------------------------------------------------------


def test_pause_stores_when_the_budget_runs_out(shop, working):
    session = reloaded(pause(shop, working, at(10)))

    assert (session.status, session.auto_resume_at) == ("paused", at(10, 30))
    paused = session.transitions.get(action="paused")
    assert paused.metadata["remaining_pause_seconds_today"] == 1800
    assert datetime.fromisoformat(paused.metadata["auto_resume_at"]) == at(10, 30)


def test_the_budget_is_shared_by_the_pauses_of_a_day(shop, working):
    pause(shop, working, at(10))
    resume(shop, working, at(10, 20))  # 1200 s used

    second = reloaded(pause(shop, working, at(11)))
    assert second.auto_resume_at == at(11, 10)
    assert second.transitions.filter(action="paused").last().metadata["remaining_pause_seconds_today"] == 600

    resume(shop, working, at(11, 5))  # 1500 s used
    third = reloaded(pause(shop, working, at(12)))
    assert third.auto_resume_at == at(12, 5)
    assert third.transitions.filter(action="paused").last().metadata["remaining_pause_seconds_today"] == 300


def test_pause_budget_for_reports_used_and_remaining_time(shop, working):
    pause(shop, working, at(10))
    resume(shop, working, at(10, 20))
    session = pause(shop, working, at(11))

    budget = selectors.pause_budget_for(technician_id=shop.technician.pk, day=DAY, now=at(11, 1))

    assert budget == expected_budget(
        shop.technician, DAY, used=1260, remaining=540, paused_session=session, auto_resume_at=at(11, 10)
    )


def test_pause_budget_for_an_idle_technician_is_untouched(shop, working, other_technician):
    pause(shop, working, at(10))

    budget = selectors.pause_budget_for(technician_id=other_technician.pk, day=DAY, now=at(10, 10))

    assert (budget.used_seconds, budget.remaining_seconds, budget.paused_session_id) == (0, 1800, None)


def test_pause_is_refused_when_budget_is_spent(shop, working):
    pause(shop, working, at(10))
    stop(shop, working, at(11))  # the pause ran out at 10:30
    sessions.start_work_session(ticket_id=working.pk, actor=shop.technician, at=at(11, 5))

    with refused(ErrorCode.PAUSE_BUDGET_EXHAUSTED):
        pause(shop, working, at(11, 10))

    session = WorkSession.domain.open_for_ticket(working.pk).get()
    assert (session.status, session.auto_resume_at) == ("running", None)
    assert not session.transitions.filter(action="paused").exists()


def test_the_budget_counts_pauses_on_every_ticket_of_the_technician(shop, working, other_item, other_item_part):
    pause(shop, working, at(10))
    stop(shop, working, at(10, 20))
    other = shop.assigned(item=other_item, parts=[other_item_part])
    workflow.start_ticket(ticket_id=other.pk, actor=shop.technician, at=at(11))

    session = reloaded(pause(shop, other, at(12)))

    assert session.auto_resume_at == at(12, 10)


def test_a_pause_across_midnight_runs_on_the_new_days_budget(shop, working):
    pause(shop, working, at(10))
    resume(shop, working, at(10, 20))

    session = reloaded(pause(shop, working, at(23, 55)))

    assert session.auto_resume_at == at(0, 30, day=27)
    assert session.transitions.filter(action="paused").last().metadata["remaining_pause_seconds_today"] == 600
    stop(shop, working, at(0, 40, day=27))
    yesterday = selectors.pause_budget_for(technician_id=shop.technician.pk, day=DAY, now=at(1, day=27))
    today = selectors.pause_budget_for(technician_id=shop.technician.pk, day=date(2026, 11, 27), now=at(1, day=27))
    assert (yesterday.used_seconds, today.used_seconds, today.remaining_seconds) == (1500, 1800, 0)


def test_a_pause_is_refused_on_a_new_day_whose_budget_an_overnight_pause_spent(shop, working):
    # Nothing used today, but midnight comes before the budget runs out: the pause goes on tomorrow's budget.
    pause(shop, working, at(23, 55))
    session = WorkSession.objects.get(ticket=working)
    assert session.auto_resume_at == at(0, 30, day=27)

    with refused(ErrorCode.PAUSE_BUDGET_EXHAUSTED):
        pause(shop, working, at(0, 40, day=27))  # resumed at 00:30 first, then nothing is left


def test_the_rules_time_zone_decides_where_the_day_ends(shop, django_capture_on_commit_callbacks):
    commit_rules(django_capture_on_commit_callbacks, timezone="Europe/Berlin")
    shop.now = at(0, 0, day=29, month=3)
    ticket = shop.started().ticket

    session = reloaded(pause(shop, ticket, at(0, 50, day=29, month=3)))  # 01:50 local, on a 23-hour day

    assert session.auto_resume_at == at(1, 20, day=29, month=3)  # 03:20 local
    budget = selectors.pause_budget_for(
        technician_id=shop.technician.pk, day=date(2026, 3, 29), now=at(1, day=29, month=3)
    )
    assert (budget.timezone, budget.used_seconds) == ("Europe/Berlin", 600)


def test_a_pause_through_new_yorks_repeated_hour_counts_real_seconds(shop, django_capture_on_commit_callbacks):
    commit_rules(django_capture_on_commit_callbacks, timezone="America/New_York", daily_pause_limit_seconds=12 * 3600)
    shop.now = at(4, 0, day=1)  # 00:00 local on 2026-11-01, a 25-hour day
    ticket = shop.started().ticket

    pause(shop, ticket, at(4, 30, day=1))  # 00:30 EDT
    resume(shop, ticket, at(8, 0, day=1))  # 03:00 EST

    budget = selectors.pause_budget_for(technician_id=shop.technician.pk, day=date(2026, 11, 1), now=at(9, day=1))
    assert budget.used_seconds == 12600


# --- automatic resume -----------------------------------------------------------------------------------------


def test_a_later_command_first_applies_the_due_resume_at_the_deadline(shop, working):
    pause(shop, working, at(10))

    before = clock.database_now()
    session = reloaded(stop(shop, working, at(11)))
    after = clock.database_now()

    assert [(action, event_at) for action, event_at, _ in steps(session)] == [
        ("started", at(9, 4)),
        ("paused", at(10)),
        ("resumed", at(10, 30)),
        ("stopped", at(11)),
    ]
    resumed = session.transitions.get(action="resumed")
    assert resumed.actor is None
    assert resumed.from_status == "paused"
    assert set(resumed.metadata) == {"auto_resumed", "reason", "scheduled_for", "applied_at"}
    assert resumed.metadata["auto_resumed"] is True
    assert resumed.metadata["reason"] == "daily_pause_limit_reached"
    assert datetime.fromisoformat(resumed.metadata["scheduled_for"]) == at(10, 30) == resumed.event_at
    # Applied when PostgreSQL's clock said so (during the stop), not at the instant the stop was pressed.
    assert before <= datetime.fromisoformat(resumed.metadata["applied_at"]) <= after
    # Active time counts again from the deadline, not from when the resume was applied.
    assert session.active_seconds == Decimal(56 * 60 + 30 * 60)


def test_a_pause_after_its_due_resume_counts_the_pause_that_ran_out(shop, working):
    pause(shop, working, at(10))  # the budget runs out at 10:30

    # The budget's history is read with the session's lock, before the due resume is applied under it.
    with refused(ErrorCode.PAUSE_BUDGET_EXHAUSTED):
        pause(shop, working, at(11))


def test_auto_resume_does_nothing_before_the_deadline(shop, working):
    session = pause(shop, working, at(10))

    assert sessions.auto_resume_work_session(session_id=session.pk, at=at(10, 29, 59)) is None

    session = reloaded(session)
    assert (session.status, session.auto_resume_at) == ("paused", at(10, 30))
    assert not session.transitions.filter(action="resumed").exists()


def test_auto_resume_is_recorded_at_the_deadline_however_late_and_only_once(shop, working):
    session = pause(shop, working, at(10))

    before = clock.database_now()
    outcome = sessions.auto_resume_work_session(session_id=session.pk, at=at(13))
    after = clock.database_now()
    again = sessions.auto_resume_work_session(session_id=session.pk, at=at(13, 1))

    assert outcome.work_session.pk == session.pk and outcome.ticket.pk == working.pk
    assert again is None
    session = reloaded(session)
    assert (session.status, session.auto_resume_at) == ("running", None)
    (resumed,) = session.transitions.filter(action="resumed")
    assert (resumed.event_at, resumed.actor) == (at(10, 30), None)
    assert before <= datetime.fromisoformat(resumed.metadata["applied_at"]) <= after  # PostgreSQL's clock
    assert session.active_seconds == Decimal(56 * 60)


def test_auto_resume_leaves_a_resumed_or_stopped_session_alone(shop, working):
    session = pause(shop, working, at(10))
    resume(shop, working, at(10, 10))
    assert sessions.auto_resume_work_session(session_id=session.pk, at=at(11)) is None
    stop(shop, working, at(11))
    assert sessions.auto_resume_work_session(session_id=session.pk, at=at(12)) is None
    assert sessions.auto_resume_work_session(session_id=10**9, at=at(12)) is None
    assert list(reloaded(session).transitions.values_list("actor_id", flat=True)) == [shop.technician.pk] * 4


def test_a_due_session_is_found_by_the_sweep_query(shop, working):
    session = pause(shop, working, at(10))
    assert list(WorkSession.domain.paused_due(at(10, 29))) == []
    assert list(WorkSession.domain.paused_due(at(10, 30))) == [session]
