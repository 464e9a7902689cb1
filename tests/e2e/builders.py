"""Ready-made state for end-to-end tests, built through the services (committed: e2e tests are transactional)."""

from apps.common.time import utc_now
from apps.ticket import services_workflow as workflow
from tests.factories import InventoryItemFactory, InventoryItemPartFactory, TechnicianFactory, spec


def assigned_tickets(count: int, *, admin, master, technicians=None, minutes=(25, 20)):
    """`count` approved tickets, each on its own item, assigned round-robin to `technicians` (default: one each)."""
    technicians = technicians or [TechnicianFactory() for _ in range(count)]
    tickets = []
    for index in range(count):
        item = InventoryItemFactory()
        parts = [InventoryItemPartFactory(inventory_item=item) for _ in minutes]
        ticket = workflow.create_ticket(
            inventory_item_id=item.pk,
            title=f"ticket {index}",
            part_specs=[spec(part, m) for part, m in zip(parts, minutes, strict=True)],
            master=master,
            at=utc_now(),
        ).ticket
        workflow.approve_ticket_review(ticket_id=ticket.pk, actor=admin, at=utc_now())
        technician = technicians[index % len(technicians)]
        workflow.assign_ticket(ticket_id=ticket.pk, technician_id=technician.pk, actor=master, at=utc_now())
        tickets.append((ticket.pk, technician))
    return tickets
