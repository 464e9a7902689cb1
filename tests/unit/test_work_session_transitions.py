"""WorkSession transitions on unsaved sessions; active time is re-derived from the history."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.common.errors import DomainError, ErrorCode
from apps.ticket.models import SessionStatus, TicketStatus, WorkSession
from tests.support.clock import T0


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def ticket(make_ticket):
    return make_ticket(TicketStatus.IN_PROGRESS)


def open_session(ticket, technician) -> WorkSession:
    return WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=T0)


@pytest.fixture
def running(ticket, technician):
    return open_session(ticket, technician)


@pytest.fixture
def paused(ticket, technician):
    session = open_session(ticket, technician)
    session.pause(actor=technician, at=at(100), auto_resume_at=at(1900), remaining_seconds=1800)
    return session


@pytest.fixture
def stopped(ticket, technician):
    session = open_session(ticket, technician)
    session.stop(actor=technician, at=at(100))
    return session


def pending_steps(session) -> list[tuple]:
    """(action, from, to, event_at) of the history an unsaved session has recorded so far."""
    return [(row.action, row.from_status, row.to_status, row.event_at) for row in session._pending_history()]


def assert_refused(call, code: ErrorCode, session) -> None:
    before = (session.status, session.auto_resume_at, session.ended_at, len(session.history()))
    with pytest.raises(DomainError) as refused:
        call()
    assert refused.value.code == code
    assert (session.status, session.auto_resume_at, session.ended_at, len(session.history())) == before


def test_start_for_ticket_opens_a_running_session_with_a_started_event(running, ticket, technician):
    assert (running.ticket, running.technician, running.status) == (ticket, technician, SessionStatus.RUNNING)
    assert (running.started_at, running.updated_at, running.ended_at, running.auto_resume_at) == (T0, T0, None, None)
    assert running.active_seconds == Decimal(0)
    assert pending_steps(running) == [("started", None, "running", T0)]
    assert running._pending_history()[0].actor == technician


@pytest.mark.parametrize("status", [s for s in TicketStatus.values if s != TicketStatus.IN_PROGRESS])
def test_start_for_ticket_is_refused_unless_the_ticket_is_in_progress(make_ticket, technician, status):
    ticket = make_ticket(status)
    with pytest.raises(DomainError) as refused:
        WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=T0)
    assert refused.value.code == ErrorCode.INVALID_TRANSITION


def test_start_for_ticket_is_refused_for_anyone_but_the_assigned_technician(ticket, other_technician):
    with pytest.raises(DomainError) as refused:
        WorkSession.start_for_ticket(ticket, technician=other_technician, actor=other_technician, at=T0)
    assert refused.value.code == ErrorCode.NOT_ASSIGNED_TECHNICIAN


def test_pause_stores_the_deadline_and_the_remaining_budget(running, technician):
    running.pause(actor=technician, at=at(100), auto_resume_at=at(1000), remaining_seconds=900)

    assert (running.status, running.auto_resume_at, running.updated_at) == (SessionStatus.PAUSED, at(1000), at(100))
    assert running.active_seconds == Decimal(100)
    last = running._pending_history()[-1]
    assert (last.action, last.from_status, last.to_status, last.event_at) == ("paused", "running", "paused", at(100))
    assert last.metadata["remaining_pause_seconds_today"] == 900
    assert datetime.fromisoformat(last.metadata["auto_resume_at"]) == at(1000)


def test_pause_is_refused_unless_running(paused, stopped, technician):
    for session in (paused, stopped):
        assert_refused(
            lambda s=session: s.pause(actor=technician, at=at(200), auto_resume_at=at(300), remaining_seconds=100),
            ErrorCode.INVALID_TRANSITION,
            session,
        )


def test_resume_clears_the_deadline_and_counts_no_paused_time(paused, technician):
    paused.resume(actor=technician, at=at(160), metadata={"why": "back"})

    assert (paused.status, paused.auto_resume_at) == (SessionStatus.RUNNING, None)
    assert paused.active_seconds == Decimal(100)
    last = paused._pending_history()[-1]
    assert (last.action, last.from_status, last.to_status, last.metadata) == (
        "resumed",
        "paused",
        "running",
        {"why": "back"},
    )


@pytest.mark.parametrize("fixture", ["running", "stopped"])
def test_resume_is_refused_unless_paused(request, technician, fixture):
    session = request.getfixturevalue(fixture)
    assert_refused(lambda: session.resume(actor=technician, at=at(200)), ErrorCode.INVALID_TRANSITION, session)


@pytest.mark.parametrize("fixture", ["running", "paused"])
def test_stop_ends_an_open_session(request, technician, fixture):
    session = request.getfixturevalue(fixture)

    session.stop(actor=technician, at=at(400))

    assert (session.status, session.ended_at, session.auto_resume_at) == (SessionStatus.STOPPED, at(400), None)
    assert session.active_seconds == Decimal(400 if fixture == "running" else 100)
    assert pending_steps(session)[-1] == ("stopped", fixture, "stopped", at(400))


def test_stop_is_refused_on_a_stopped_session(stopped, technician):
    assert_refused(lambda: stopped.stop(actor=technician, at=at(500)), ErrorCode.INVALID_TRANSITION, stopped)


def test_an_event_before_the_previous_one_is_refused(paused, technician):
    assert_refused(lambda: paused.resume(actor=technician, at=at(99)), ErrorCode.INVALID_TRANSITION, paused)


def test_active_seconds_are_re_derived_from_the_whole_history(running, technician):
    running.pause(actor=technician, at=at(100), auto_resume_at=at(1900), remaining_seconds=1800)
    running.resume(actor=technician, at=at(160), metadata=None)
    running.pause(actor=technician, at=at(200.25), auto_resume_at=at(1900), remaining_seconds=1740)
    running.resume(actor=technician, at=at(300), metadata=None)
    running.stop(actor=technician, at=at(400))

    # running: [0, 100) + [160, 200.25) + [300, 400)
    assert running.active_seconds == Decimal("240.25")
    assert running.recalculate_active_seconds() == Decimal("240.25")
    assert [(p.start, p.end) for p in running.pause_intervals()] == [(at(100), at(160)), (at(200.25), at(300))]


def test_an_open_running_span_counts_up_to_until_only_when_asked(running, technician):
    running.pause(actor=technician, at=at(100), auto_resume_at=at(1900), remaining_seconds=1800)
    running.resume(actor=technician, at=at(160), metadata=None)

    assert running.recalculate_active_seconds() == Decimal(100)
    assert running.recalculate_active_seconds(until=at(1000)) == Decimal(940)


def test_an_open_pause_adds_nothing_to_active_time(paused):
    assert paused.recalculate_active_seconds(until=at(5000)) == Decimal(100)


def test_active_seconds_keep_microseconds_exactly(running, technician):
    running.stop(actor=technician, at=T0 + timedelta(seconds=1, microseconds=1))
    assert running.active_seconds == Decimal("1.000001")


def test_events_in_new_yorks_repeated_hour_are_ordered_by_real_time(technician, make_ticket):
    new_york = ZoneInfo("America/New_York")
    first_one_fifty = datetime(2026, 11, 1, 1, 50, tzinfo=new_york)  # EDT
    second_one_ten = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=new_york)  # EST, 20 minutes later
    session = WorkSession.start_for_ticket(
        make_ticket(TicketStatus.IN_PROGRESS), technician=technician, actor=technician, at=first_one_fifty
    )
    session.pause(
        actor=technician, at=first_one_fifty, auto_resume_at=first_one_fifty + timedelta(hours=1), remaining_seconds=1
    )

    session.resume(actor=technician, at=second_one_ten)
    session.stop(actor=technician, at=datetime(2026, 11, 1, 1, 10, 30, fold=1, tzinfo=new_york))

    assert session.active_seconds == Decimal(30)
    assert [(p.end - p.start) for p in session.pause_intervals()] == [timedelta(minutes=20)]


def test_an_event_earlier_in_real_time_is_refused_even_when_its_wall_clock_is_later(technician, make_ticket):
    new_york = ZoneInfo("America/New_York")
    second_one_ten = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=new_york)  # EST
    first_one_fifty = datetime(2026, 11, 1, 1, 50, tzinfo=new_york)  # EDT, 20 minutes earlier
    session = WorkSession.start_for_ticket(
        make_ticket(TicketStatus.IN_PROGRESS), technician=technician, actor=technician, at=second_one_ten
    )

    assert_refused(lambda: session.stop(actor=technician, at=first_one_fifty), ErrorCode.INVALID_TRANSITION, session)
