from decimal import Decimal

from apps.inventory.models import InventoryItemStatus
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import TicketTransition, WorkSession
from apps.xp.models import XpEntry
from apps.xp.services import xp_total


def test_a_ticket_goes_from_review_to_done_with_rework_and_xp(shop):
    ticket = shop.create(minutes=(25, 20))
    assert (ticket.total_duration, ticket.flag_color, ticket.xp_amount) == (45, "yellow", 3)

    workflow.approve_ticket_review(ticket_id=ticket.pk, actor=shop.admin, at=shop.tick())
    workflow.assign_ticket(ticket_id=ticket.pk, technician_id=shop.technician.pk, actor=shop.master, at=shop.tick())
    started = workflow.start_ticket(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.IN_SERVICE

    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(60))
    sessions.resume_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(120))
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(60))
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    failed = workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick(), note="loose")
    assert failed.ticket.status == "rework"

    workflow.start_ticket(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(600))
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick())
    done = workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick()).ticket

    assert done.status == "done" and done.finished_at == shop.now
    shop.item.refresh_from_db()
    assert shop.item.status == InventoryItemStatus.READY
    actions = list(TicketTransition.domain.history_for_ticket(ticket.pk).values_list("action", flat=True))
    assert actions == [
        "created",
        "review_approved",
        "assigned",
        "started",
        "to_waiting_qc",
        "qc_fail",
        "started",
        "to_waiting_qc",
        "qc_pass",
    ]
    first = WorkSession.objects.get(pk=started.work_session.pk)
    assert first.active_seconds == Decimal(120)
    # No first-pass bonus after a QC fail; the inspector earns QC XP twice.
    assert xp_total(shop.technician.pk) == 3
    assert xp_total(shop.inspector.pk) == 2
    assert XpEntry.objects.filter(ticket=ticket).count() == 3
