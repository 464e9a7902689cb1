"""Ticket state machine on unsaved tickets: each method from every status, legal or refused with its code."""

from datetime import timedelta

import pytest

from apps.common.errors import DomainError, ErrorCode
from apps.ticket.models import SessionStatus, TicketAction, TicketStatus, WorkSession
from tests.support.clock import T0

AT = T0 + timedelta(hours=1)
ALL_STATUSES = list(TicketStatus.values)


def others(*allowed: str) -> list[str]:
    return [status for status in ALL_STATUSES if status not in allowed]


def pending(ticket) -> list:
    return ticket._pending_history()


def assert_refused(call, code: ErrorCode, ticket, status_before: str) -> None:
    with pytest.raises(DomainError) as refused:
        call()
    assert refused.value.code == code
    assert ticket.status == status_before
    assert pending(ticket) == []


def only_transition(ticket):
    (row,) = pending(ticket)
    return row


# --- approve_review ------------------------------------------------------------------------------------


def test_approve_review_moves_under_review_to_new_and_records_the_reviewer(make_ticket, admin):
    ticket = make_ticket(TicketStatus.UNDER_REVIEW, approved=False, assigned_to=None)

    assert ticket.approve_review(actor=admin, at=AT) is True

    assert ticket.status == TicketStatus.NEW
    assert (ticket.approved_by, ticket.approved_at, ticket.updated_at) == (admin, AT, AT)
    row = only_transition(ticket)
    assert (row.action, row.from_status, row.to_status) == ("review_approved", "under_review", "new")
    assert (row.actor, row.created_at) == (admin, AT)


def test_approving_a_new_ticket_is_a_no_op(make_ticket, admin):
    ticket = make_ticket(TicketStatus.NEW, assigned_to=None)
    first_approval = ticket.approved_at

    assert ticket.approve_review(actor=admin, at=AT) is False

    assert ticket.status == TicketStatus.NEW
    assert ticket.approved_at == first_approval
    assert pending(ticket) == []


@pytest.mark.parametrize("status", others(TicketStatus.UNDER_REVIEW, TicketStatus.NEW))
def test_approve_review_is_refused_after_review(make_ticket, admin, status):
    ticket = make_ticket(status)
    assert_refused(lambda: ticket.approve_review(actor=admin, at=AT), ErrorCode.INVALID_TRANSITION, ticket, status)
    assert ticket.approved_at == T0


# --- assign_to_technician ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (TicketStatus.NEW, TicketStatus.ASSIGNED),
        (TicketStatus.ASSIGNED, TicketStatus.ASSIGNED),
        (TicketStatus.REWORK, TicketStatus.REWORK),
        (TicketStatus.UNDER_REVIEW, TicketStatus.ASSIGNED),  # already approved
    ],
)
def test_assign_sets_the_technician_from_each_allowed_status(
    make_ticket, admin, technician, other_technician, status, target
):
    ticket = make_ticket(status, assigned_to=technician)

    ticket.assign_to_technician(other_technician, actor=admin, at=AT)

    assert ticket.status == target
    assert (ticket.technician, ticket.assigned_at, ticket.updated_at) == (other_technician, AT, AT)
    row = only_transition(ticket)
    assert (row.action, row.from_status, row.to_status) == ("assigned", status, target)
    assert row.metadata == {"technician_id": other_technician.pk}


def test_assign_from_rework_keeps_rework(make_ticket, admin, other_technician):
    ticket = make_ticket(TicketStatus.REWORK)
    ticket.assign_to_technician(other_technician, actor=admin, at=AT)
    assert ticket.status == TicketStatus.REWORK


@pytest.mark.parametrize("status", [TicketStatus.UNDER_REVIEW, TicketStatus.NEW])
def test_assign_is_refused_before_admin_review(make_ticket, admin, technician, status):
    ticket = make_ticket(status, approved=False, assigned_to=None)
    assert_refused(
        lambda: ticket.assign_to_technician(technician, actor=admin, at=AT),
        ErrorCode.REVIEW_REQUIRED,
        ticket,
        status,
    )
    assert ticket.technician is None


@pytest.mark.parametrize(
    "status", others(TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.REWORK, TicketStatus.UNDER_REVIEW)
)
def test_assign_is_refused_once_work_has_started(make_ticket, admin, technician, other_technician, status):
    ticket = make_ticket(status, assigned_to=technician)
    assert_refused(
        lambda: ticket.assign_to_technician(other_technician, actor=admin, at=AT),
        ErrorCode.INVALID_TRANSITION,
        ticket,
        status,
    )
    assert ticket.technician == technician


# --- start_progress ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TicketStatus.ASSIGNED, TicketStatus.REWORK])
def test_start_moves_to_in_progress_for_the_assigned_technician(make_ticket, technician, status):
    ticket = make_ticket(status)

    ticket.start_progress(actor=technician, at=AT)

    assert ticket.status == TicketStatus.IN_PROGRESS
    assert ticket.started_at == AT
    row = only_transition(ticket)
    assert (row.action, row.from_status, row.to_status, row.actor) == ("started", status, "in_progress", technician)


def test_restarting_after_rework_keeps_the_first_start_time(make_ticket, technician):
    ticket = make_ticket(TicketStatus.REWORK, started_at=T0)
    ticket.start_progress(actor=technician, at=AT)
    assert ticket.started_at == T0


@pytest.mark.parametrize("status", others(TicketStatus.ASSIGNED, TicketStatus.REWORK))
def test_start_is_refused_from_other_statuses(make_ticket, technician, status):
    ticket = make_ticket(status)
    assert_refused(lambda: ticket.start_progress(actor=technician, at=AT), ErrorCode.INVALID_TRANSITION, ticket, status)
    assert ticket.started_at is None


@pytest.mark.parametrize("status", [TicketStatus.ASSIGNED, TicketStatus.REWORK])
def test_start_is_refused_for_anyone_but_the_assigned_technician(make_ticket, other_technician, status):
    ticket = make_ticket(status)
    assert_refused(
        lambda: ticket.start_progress(actor=other_technician, at=AT),
        ErrorCode.NOT_ASSIGNED_TECHNICIAN,
        ticket,
        status,
    )
    assert_refused(lambda: ticket.start_progress(actor=None, at=AT), ErrorCode.NOT_ASSIGNED_TECHNICIAN, ticket, status)


# --- move_to_waiting_qc --------------------------------------------------------------------------------


def session_in(status: str, ticket, technician) -> WorkSession:
    session = WorkSession.start_for_ticket(ticket, technician=technician, actor=technician, at=T0)
    if status == SessionStatus.PAUSED:
        session.pause(actor=technician, at=T0 + timedelta(minutes=1), auto_resume_at=AT, remaining_seconds=1800)
    if status == SessionStatus.STOPPED:
        session.stop(actor=technician, at=T0 + timedelta(minutes=1))
    return session


@pytest.mark.parametrize("latest", [None, SessionStatus.STOPPED])
def test_to_waiting_qc_moves_in_progress_when_no_session_is_open(make_ticket, technician, latest):
    ticket = make_ticket(TicketStatus.IN_PROGRESS)
    session = session_in(latest, ticket, technician) if latest else None

    ticket.move_to_waiting_qc(actor=technician, at=AT, latest_session=session, note="all done")

    assert ticket.status == TicketStatus.WAITING_QC
    row = only_transition(ticket)
    assert (row.action, row.from_status, row.to_status, row.note) == (
        "to_waiting_qc",
        "in_progress",
        "waiting_qc",
        "all done",
    )


@pytest.mark.parametrize("open_status", [SessionStatus.RUNNING, SessionStatus.PAUSED])
def test_to_waiting_qc_is_refused_while_the_session_is_open(make_ticket, technician, open_status):
    ticket = make_ticket(TicketStatus.IN_PROGRESS)
    session = session_in(open_status, ticket, technician)
    assert_refused(
        lambda: ticket.move_to_waiting_qc(actor=technician, at=AT, latest_session=session),
        ErrorCode.SESSION_NOT_STOPPED,
        ticket,
        TicketStatus.IN_PROGRESS,
    )


@pytest.mark.parametrize("status", others(TicketStatus.IN_PROGRESS))
def test_to_waiting_qc_is_refused_from_other_statuses(make_ticket, technician, status):
    ticket = make_ticket(status)
    assert_refused(
        lambda: ticket.move_to_waiting_qc(actor=technician, at=AT, latest_session=None),
        ErrorCode.INVALID_TRANSITION,
        ticket,
        status,
    )


def test_to_waiting_qc_is_refused_for_anyone_but_the_assigned_technician(make_ticket, other_technician):
    ticket = make_ticket(TicketStatus.IN_PROGRESS)
    assert_refused(
        lambda: ticket.move_to_waiting_qc(actor=other_technician, at=AT, latest_session=None),
        ErrorCode.NOT_ASSIGNED_TECHNICIAN,
        ticket,
        TicketStatus.IN_PROGRESS,
    )


# --- QC ------------------------------------------------------------------------------------------------


def test_qc_pass_finishes_the_ticket(make_ticket, admin):
    ticket = make_ticket(TicketStatus.WAITING_QC)

    row = ticket.mark_qc_pass(actor=admin, at=AT, note="fine")

    assert (ticket.status, ticket.finished_at) == (TicketStatus.DONE, AT)
    assert row is only_transition(ticket)
    assert (row.action, row.from_status, row.to_status, row.note) == ("qc_pass", "waiting_qc", "done", "fine")


def test_qc_fail_sends_the_ticket_to_rework_and_clears_finished_at(make_ticket, admin):
    ticket = make_ticket(TicketStatus.WAITING_QC, finished_at=T0)

    row = ticket.mark_qc_fail(actor=admin, at=AT, note="loose")

    assert (ticket.status, ticket.finished_at) == (TicketStatus.REWORK, None)
    assert row is only_transition(ticket)
    assert (row.action, row.from_status, row.to_status, row.note) == ("qc_fail", "waiting_qc", "rework", "loose")


@pytest.mark.parametrize("status", others(TicketStatus.WAITING_QC))
def test_qc_pass_is_refused_unless_waiting_qc(make_ticket, admin, status):
    ticket = make_ticket(status)
    assert_refused(lambda: ticket.mark_qc_pass(actor=admin, at=AT), ErrorCode.INVALID_TRANSITION, ticket, status)
    assert ticket.finished_at == (T0 if status == TicketStatus.DONE else None)


@pytest.mark.parametrize("status", others(TicketStatus.WAITING_QC))
def test_qc_fail_is_refused_unless_waiting_qc(make_ticket, admin, status):
    ticket = make_ticket(status)
    assert_refused(lambda: ticket.mark_qc_fail(actor=admin, at=AT), ErrorCode.INVALID_TRANSITION, ticket, status)


# --- record_change -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", others(TicketStatus.DONE))
def test_record_change_keeps_the_status_of_an_active_ticket(make_ticket, admin, status):
    ticket = make_ticket(status)

    ticket.record_change(TicketAction.PART_SPECS_CHANGED, actor=admin, at=AT, metadata={"part_spec_count": 2})

    assert ticket.status == status
    assert ticket.updated_at == AT
    row = only_transition(ticket)
    assert (row.action, row.from_status, row.to_status) == ("part_specs_changed", status, status)
    assert row.metadata == {"part_spec_count": 2}


def test_record_change_is_refused_on_a_done_ticket(make_ticket, admin):
    ticket = make_ticket(TicketStatus.DONE)
    assert_refused(
        lambda: ticket.record_change(TicketAction.MANUAL_METRICS_SET, actor=admin, at=AT),
        ErrorCode.INVALID_TRANSITION,
        ticket,
        TicketStatus.DONE,
    )


def test_every_status_but_done_is_active(make_ticket):
    assert {status for status in ALL_STATUSES if make_ticket(status).is_active} == set(others(TicketStatus.DONE))
