"""Ticket workflow services against PostgreSQL: every step, every refusal with its code, item status and XP."""

import pytest

from apps.common.errors import ErrorCode
from apps.inventory.models import InventoryItemStatus
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket, TicketPartSpec, TicketTransition, WorkSession
from apps.xp.models import XpEntry, XpKind
from apps.xp.services import award_xp, xp_total
from tests.support.assertions import refused
from tests.support.factories import UserFactory, spec
from tests.support.records import reloaded, ticket_actions

# --- create -------------------------------------------------------------------------------------------------


def test_create_opens_a_ticket_under_review_with_its_specs_and_metrics(shop):
    ticket = reloaded(shop.create(minutes=(25, 20)))

    assert (ticket.status, ticket.master, ticket.inventory_item) == ("under_review", shop.master, shop.item)
    assert (ticket.total_duration, ticket.flag_minutes, ticket.flag_color, ticket.xp_amount) == (45, 45, "yellow", 3)
    specs = TicketPartSpec.objects.alive().filter(ticket=ticket).order_by("minutes")
    assert [(s.inventory_item_part, s.minutes) for s in specs] == [(shop.parts[1], 20), (shop.parts[0], 25)]
    (created,) = TicketTransition.domain.history_for_ticket(ticket.pk)
    assert (created.action, created.from_status, created.to_status) == ("created", None, "under_review")
    assert (created.actor, created.metadata) == (shop.master, {"part_spec_count": 2})


def test_create_is_refused_for_a_missing_item(shop):
    with refused(ErrorCode.NOT_FOUND):
        workflow.create_ticket(inventory_item_id=10**9, title="", part_specs=[], master=shop.master, at=shop.tick())


@pytest.mark.parametrize("stage", ["create", "approved", "assigned", "started", "waiting_qc"])
def test_create_is_refused_while_the_item_has_an_active_ticket(shop, stage):
    getattr(shop, stage)()
    with refused(ErrorCode.ACTIVE_TICKET_EXISTS):
        shop.create()
    assert Ticket.objects.filter(inventory_item=shop.item).count() == 1


def test_a_new_ticket_may_be_opened_once_the_previous_one_is_done(shop):
    first = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=first.pk, actor=shop.inspector, at=shop.tick())

    second = shop.create()

    assert second.pk != first.pk and second.status == "under_review"


def test_create_is_refused_for_a_part_of_another_item(shop, other_item_part):
    with refused(ErrorCode.INVALID_PART) as refusal:
        shop.create(minutes=(10, 10), parts=[shop.parts[0], other_item_part])
    assert str(other_item_part.pk) in refusal.value.message
    assert not Ticket.objects.exists()


def test_create_is_refused_for_a_part_listed_twice(shop):
    with refused(ErrorCode.VALIDATION_ERROR):
        shop.create(minutes=(10, 5), parts=[shop.parts[0], shop.parts[0]])
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(("minutes", "color"), [(-1, "green"), (10081, "green"), (10, "purple")])
def test_create_is_refused_for_an_out_of_range_spec(shop, minutes, color):
    with refused(ErrorCode.VALIDATION_ERROR):
        workflow.create_ticket(
            inventory_item_id=shop.item.pk,
            title="",
            part_specs=[spec(shop.parts[0], minutes, color)],
            master=shop.master,
            at=shop.tick(),
        )
    assert not Ticket.objects.exists()


def test_a_ticket_without_specs_has_zero_metrics(shop):
    ticket = reloaded(shop.create(minutes=()))
    assert (ticket.total_duration, ticket.flag_color, ticket.xp_amount) == (0, "green", 0)


# --- approve ------------------------------------------------------------------------------------------------


def test_approve_records_the_reviewer(shop):
    ticket = shop.create()
    at = shop.tick()

    workflow.approve_ticket_review(ticket_id=ticket.pk, actor=shop.admin, at=at)

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.approved_by, ticket.approved_at) == ("new", shop.admin, at)
    assert ticket_actions(ticket.pk) == ["created", "review_approved"]


def test_approving_a_new_ticket_again_is_a_no_op(shop):
    ticket = shop.approved()
    approved_at = reloaded(ticket).approved_at
    other_admin = UserFactory(roles=["admin"])

    outcome = workflow.approve_ticket_review(ticket_id=ticket.pk, actor=other_admin, at=shop.tick())

    assert outcome.ticket.status == "new"
    ticket = reloaded(ticket)
    assert (ticket.approved_by, ticket.approved_at) == (shop.admin, approved_at)
    assert ticket_actions(ticket.pk) == ["created", "review_approved"]


def test_approve_is_refused_for_a_missing_or_deleted_ticket(shop):
    with refused(ErrorCode.NOT_FOUND):
        workflow.approve_ticket_review(ticket_id=10**9, actor=shop.admin, at=shop.tick())
    ticket = shop.create()
    Ticket.objects.filter(pk=ticket.pk).update(deleted_at=shop.now)
    with refused(ErrorCode.NOT_FOUND):
        workflow.approve_ticket_review(ticket_id=ticket.pk, actor=shop.admin, at=shop.tick())


def test_approve_is_refused_after_assignment(shop):
    ticket = shop.assigned()
    with refused(ErrorCode.INVALID_TRANSITION):
        workflow.approve_ticket_review(ticket_id=ticket.pk, actor=shop.admin, at=shop.tick())


# --- assign -------------------------------------------------------------------------------------------------


def test_assign_is_refused_before_review(shop):
    ticket = shop.create()
    with refused(ErrorCode.REVIEW_REQUIRED):
        workflow.assign_ticket(ticket_id=ticket.pk, technician_id=shop.technician.pk, actor=shop.master, at=shop.tick())
    assert reloaded(ticket).technician is None


def test_assign_is_refused_for_an_unknown_or_inactive_technician(shop, other_technician):
    ticket = shop.approved()
    other_technician.is_active = False
    other_technician.save(update_fields=["is_active"])
    for technician_id in (10**9, other_technician.pk):
        with refused(ErrorCode.NOT_FOUND):
            workflow.assign_ticket(ticket_id=ticket.pk, technician_id=technician_id, actor=shop.master, at=shop.tick())
    with refused(ErrorCode.NOT_FOUND):
        workflow.assign_ticket(ticket_id=10**9, technician_id=shop.technician.pk, actor=shop.master, at=shop.tick())


def test_assign_is_refused_for_a_user_who_is_not_a_technician(shop):
    ticket = shop.approved()
    with refused(ErrorCode.VALIDATION_ERROR):
        workflow.assign_ticket(ticket_id=ticket.pk, technician_id=shop.inspector.pk, actor=shop.master, at=shop.tick())


def test_assign_is_refused_once_work_has_started(shop, other_technician):
    ticket = shop.started().ticket
    with refused(ErrorCode.INVALID_TRANSITION):
        workflow.assign_ticket(
            ticket_id=ticket.pk, technician_id=other_technician.pk, actor=shop.master, at=shop.tick()
        )
    assert reloaded(ticket).technician == shop.technician


def test_reassigning_an_assigned_ticket_changes_the_technician(shop, other_technician):
    ticket = shop.assigned()
    at = shop.tick()

    workflow.assign_ticket(ticket_id=ticket.pk, technician_id=other_technician.pk, actor=shop.admin, at=at)

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.technician, ticket.assigned_at) == ("assigned", other_technician, at)
    last = TicketTransition.domain.history_for_ticket(ticket.pk).last()
    assert last.metadata == {"technician_id": other_technician.pk}


def test_assigning_a_ticket_in_rework_keeps_it_in_rework(shop, other_technician):
    ticket = shop.waiting_qc()
    workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    workflow.assign_ticket(ticket_id=ticket.pk, technician_id=other_technician.pk, actor=shop.master, at=shop.tick())

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.technician) == ("rework", other_technician)
    started = workflow.start_ticket(ticket_id=ticket.pk, actor=other_technician, at=shop.tick())
    assert started.ticket.status == "in_progress"
    assert started.work_session.technician == other_technician


# --- start --------------------------------------------------------------------------------------------------


def test_start_opens_a_session_and_puts_the_item_in_service(shop):
    ticket = shop.assigned()
    at = shop.tick()

    outcome = workflow.start_ticket(ticket_id=ticket.pk, actor=shop.technician, at=at)

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.started_at) == ("in_progress", at)
    session = WorkSession.objects.get(ticket=ticket)
    assert session == outcome.work_session
    assert (session.status, session.technician, session.started_at) == ("running", shop.technician, at)
    assert list(session.transitions.values_list("action", flat=True)) == ["started"]
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.IN_SERVICE
    assert ticket_actions(ticket.pk)[-1] == "started"


def test_start_is_refused_for_another_technician(shop, other_technician):
    ticket = shop.assigned()
    with refused(ErrorCode.NOT_ASSIGNED_TECHNICIAN):
        workflow.start_ticket(ticket_id=ticket.pk, actor=other_technician, at=shop.tick())
    assert not WorkSession.objects.exists()
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.READY


@pytest.mark.parametrize("stage", ["create", "approved"])
def test_start_is_refused_before_assignment(shop, stage):
    ticket = getattr(shop, stage)()
    with refused(ErrorCode.INVALID_TRANSITION):
        workflow.start_ticket(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())


def test_start_is_refused_while_the_technician_has_an_open_session_elsewhere(shop, other_item, other_item_part):
    shop.started()
    second = shop.assigned(item=other_item, parts=[other_item_part])

    with refused(ErrorCode.TECHNICIAN_BUSY):
        workflow.start_ticket(ticket_id=second.pk, actor=shop.technician, at=shop.tick())

    assert reloaded(second).status == "assigned"
    assert WorkSession.objects.filter(ticket=second).count() == 0
    other_item.refresh_from_db()
    assert other_item.status == InventoryItemStatus.READY


def test_a_technician_may_hold_several_in_progress_tickets(shop, other_item, other_item_part):
    first = shop.started().ticket
    sessions.stop_work_session(ticket_id=first.pk, actor=shop.technician, at=shop.tick())
    second = shop.assigned(item=other_item, parts=[other_item_part])

    workflow.start_ticket(ticket_id=second.pk, actor=shop.technician, at=shop.tick())

    assert Ticket.objects.filter(technician=shop.technician, status="in_progress").count() == 2


# --- to waiting QC ------------------------------------------------------------------------------------------


def test_to_waiting_qc_is_refused_while_the_session_runs_or_is_paused(shop):
    ticket = shop.started().ticket
    with refused(ErrorCode.SESSION_NOT_STOPPED):
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    with refused(ErrorCode.SESSION_NOT_STOPPED):
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    assert reloaded(ticket).status == "in_progress"


def test_to_waiting_qc_judges_the_latest_session_of_several(shop):
    """Work that spans days: an earlier stopped session does not stand in for the one still running, on a
    connection whose read of the latest session was composed for another ticket first."""
    earlier = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=earlier.pk, actor=shop.inspector, at=shop.tick())
    ticket = shop.started().ticket
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    sessions.start_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    with refused(ErrorCode.SESSION_NOT_STOPPED):
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    assert reloaded(ticket).status == "waiting_qc"


def test_to_waiting_qc_is_refused_for_another_technician(shop, other_technician):
    ticket = shop.started().ticket
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    with refused(ErrorCode.NOT_ASSIGNED_TECHNICIAN):
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=other_technician, at=shop.tick())


def test_to_waiting_qc_is_refused_before_work_starts(shop):
    ticket = shop.assigned()
    with refused(ErrorCode.INVALID_TRANSITION):
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())


def test_to_waiting_qc_keeps_the_note(shop):
    ticket = shop.started().ticket
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(), note="ready")
    last = TicketTransition.domain.history_for_ticket(ticket.pk).last()
    assert (last.action, last.note) == ("to_waiting_qc", "ready")


# --- QC and XP ----------------------------------------------------------------------------------------------


def xp_of(ticket) -> list[tuple]:
    return list(
        XpEntry.objects.filter(ticket=ticket).order_by("id").values_list("user_id", "kind", "amount", "reference")
    )


def test_a_clean_qc_pass_awards_base_xp_first_pass_bonus_and_inspector_xp(shop):
    ticket = shop.waiting_qc()  # worked 60 s against a 45-minute plan
    at = shop.tick()

    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=at, note="good")

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.finished_at) == ("done", at)
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.READY
    qc = TicketTransition.domain.history_for_ticket(ticket.pk).last()
    assert (qc.action, qc.note, qc.actor) == ("qc_pass", "good", shop.inspector)
    assert xp_of(ticket) == [
        (shop.technician.pk, XpKind.TICKET_BASE_XP, 3, f"ticket:{ticket.pk}:base"),
        (shop.technician.pk, XpKind.TICKET_FIRST_PASS_BONUS, 1, f"ticket:{ticket.pk}:first_pass_bonus"),
        (shop.inspector.pk, XpKind.QC_STATUS_UPDATE, 1, f"ticket:{ticket.pk}:qc:{qc.pk}"),
    ]
    assert (xp_total(shop.technician.pk), xp_total(shop.inspector.pk)) == (4, 1)


def test_no_first_pass_bonus_when_the_work_took_longer_than_planned(shop):
    ticket = shop.started(minutes=(1,)).ticket  # a one-minute plan
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(61))
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())

    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    kinds = [kind for _, kind, _, _ in xp_of(ticket)]
    assert kinds == [XpKind.TICKET_BASE_XP, XpKind.QC_STATUS_UPDATE]


def test_work_exactly_as_long_as_planned_still_earns_the_bonus(shop):
    ticket = shop.started(minutes=(1,)).ticket
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(60))
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())

    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    assert XpEntry.objects.filter(ticket=ticket, kind=XpKind.TICKET_FIRST_PASS_BONUS).count() == 1


def test_no_first_pass_bonus_after_a_qc_fail_however_quick_the_rework(shop):
    ticket = shop.waiting_qc()  # 60 s against a 45-minute plan: within plan
    workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())
    workflow.start_ticket(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())

    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    kinds = [kind for _, kind, _, _ in xp_of(ticket)]
    assert kinds == [XpKind.QC_STATUS_UPDATE, XpKind.TICKET_BASE_XP, XpKind.QC_STATUS_UPDATE]


def test_the_bonus_reads_each_tickets_own_facts_on_one_connection(shop):
    """The bonus's read is composed once per connection and then bound to each ticket: no ticket lends its answer
    to the next (one item, so one ticket after another)."""
    clean_before = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=clean_before.pk, actor=shop.inspector, at=shop.tick())
    failed_first = shop.waiting_qc()
    workflow.fail_ticket_qc(ticket_id=failed_first.pk, actor=shop.inspector, at=shop.tick())
    workflow.start_ticket(ticket_id=failed_first.pk, actor=shop.technician, at=shop.tick())
    sessions.stop_work_session(ticket_id=failed_first.pk, actor=shop.technician, at=shop.tick())
    workflow.move_ticket_to_waiting_qc(ticket_id=failed_first.pk, actor=shop.technician, at=shop.tick())
    workflow.pass_ticket_qc(ticket_id=failed_first.pk, actor=shop.inspector, at=shop.tick())
    clean_after = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=clean_after.pk, actor=shop.inspector, at=shop.tick())

    bonuses = XpEntry.objects.filter(kind=XpKind.TICKET_FIRST_PASS_BONUS).order_by("id")
    assert list(bonuses.values_list("ticket_id", flat=True)) == [clean_before.pk, clean_after.pk]


def test_qc_fail_sends_to_rework_and_awards_the_inspector_only(shop):
    ticket = shop.waiting_qc()

    outcome = workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick(), note="loose")

    ticket = reloaded(ticket)
    assert (ticket.status, ticket.finished_at) == ("rework", None)
    assert outcome.ticket.status == "rework"
    qc = TicketTransition.domain.history_for_ticket(ticket.pk).last()
    assert xp_of(ticket) == [(shop.inspector.pk, XpKind.QC_STATUS_UPDATE, 1, f"ticket:{ticket.pk}:qc:{qc.pk}")]
    assert xp_total(shop.technician.pk) == 0
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.IN_SERVICE


def test_qc_is_refused_unless_waiting_qc(shop):
    ticket = shop.started().ticket
    for service in (workflow.pass_ticket_qc, workflow.fail_ticket_qc):
        with refused(ErrorCode.INVALID_TRANSITION):
            service(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())
    assert not XpEntry.objects.exists()


def test_a_done_ticket_cannot_pass_or_fail_qc_again(shop):
    ticket = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())
    for service in (workflow.pass_ticket_qc, workflow.fail_ticket_qc):
        with refused(ErrorCode.INVALID_TRANSITION):
            service(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())
    assert XpEntry.objects.filter(ticket=ticket).count() == 3


def test_the_same_xp_reference_is_awarded_once(shop):
    ticket = shop.create()

    first = award_xp(
        user=shop.technician, kind=XpKind.TICKET_BASE_XP, amount=3, reference="r", ticket=ticket, at=shop.now
    )
    again = award_xp(
        user=shop.technician, kind=XpKind.TICKET_BASE_XP, amount=5, reference="r", ticket=ticket, at=shop.tick()
    )

    assert (first, again) == (True, False)
    assert list(XpEntry.objects.values_list("reference", "amount")) == [("r", 3)]
    assert xp_total(shop.technician.pk) == 3


def test_a_zero_xp_award_writes_nothing(shop):
    assert (
        award_xp(user=shop.technician, kind=XpKind.TICKET_BASE_XP, amount=0, reference="z", ticket=None, at=shop.now)
        is False
    )
    assert not XpEntry.objects.exists()
