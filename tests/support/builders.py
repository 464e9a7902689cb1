"""Ready-made state, built through the services: the suite's one create → approve → assign → start path (`Shop`),
and commands stored pending in the inbox."""

from datetime import datetime, timedelta

from apps.commands.models import Command
from apps.common.time import utc_now
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket
from tests.support.clock import T0
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory, TechnicianFactory, spec


class Shop:
    """Drives tickets through the services, so tests read as a story.

    On its own clock by default: every step happens a minute after the one before, starting from T0 (tests may set
    `now`). With `clock=utc_now` every step happens at the real time instead: committed state that real workers
    and their sweeps act on (end-to-end and fault tests).
    """

    def __init__(self, *, admin, master, technician=None, inspector=None, item=None, parts=None, clock=None):
        self.admin, self.master, self.technician, self.inspector = admin, master, technician, inspector
        self.item, self.parts = item, parts
        self.now = T0
        self.clock = clock

    def tick(self, seconds: float = 60) -> datetime:
        if self.clock is not None:
            return self.clock()
        self.now += timedelta(seconds=seconds)
        return self.now

    def create(self, minutes=(25, 20), item=None, parts=None, title: str = "fix it") -> Ticket:
        parts = parts or self.parts
        specs = [spec(part, m) for part, m in zip(parts, minutes, strict=False)]
        return workflow.create_ticket(
            inventory_item_id=(item or self.item).pk,
            title=title,
            part_specs=specs,
            master=self.master,
            at=self.tick(),
        ).ticket

    def approved(self, **kwargs) -> Ticket:
        ticket = self.create(**kwargs)
        return workflow.approve_ticket_review(ticket_id=ticket.pk, actor=self.admin, at=self.tick()).ticket

    def assigned(self, technician=None, **kwargs) -> Ticket:
        ticket = self.approved(**kwargs)
        technician = technician or self.technician
        return workflow.assign_ticket(
            ticket_id=ticket.pk, technician_id=technician.pk, actor=self.master, at=self.tick()
        ).ticket

    def started(self, technician=None, **kwargs):
        technician = technician or self.technician
        ticket = self.assigned(technician=technician, **kwargs)
        return workflow.start_ticket(ticket_id=ticket.pk, actor=technician, at=self.tick())

    def waiting_qc(self, technician=None, **kwargs) -> Ticket:
        technician = technician or self.technician
        ticket = self.started(technician=technician, **kwargs).ticket
        sessions.stop_work_session(ticket_id=ticket.pk, actor=technician, at=self.tick())
        return workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=technician, at=self.tick()).ticket


def workplace(part_names=("fork", "wheel")):
    """An inventory item with parts of its own: (item, parts)."""
    item = InventoryItemFactory()
    return item, [InventoryItemPartFactory(inventory_item=item, name=name) for name in part_names]


def another_workplace():
    """A second technician with an inventory item of their own (two parts), built by the factories."""
    item, parts = workplace()
    return TechnicianFactory(), item, parts


def working_since(shop: Shop, instant: datetime, *, technician=None, item=None, parts=None) -> Ticket:
    """A ticket in progress whose first session has been running since `instant` (set up a few minutes before)."""
    shop.now = instant - timedelta(minutes=4)  # create, approve, assign, start: one step a minute
    kwargs = {"item": item, "parts": parts} if item is not None else {}
    outcome = shop.started(technician=technician, **kwargs)
    assert outcome.work_session.started_at == instant
    return outcome.ticket


def assigned_tickets(count: int, *, admin, master, technicians=None, minutes=(25, 20)) -> list[tuple[int, object]]:
    """`count` approved tickets at the real time, each on its own item, assigned round-robin to `technicians`
    (default: one new technician each). Returns [(ticket id, technician)]."""
    technicians = technicians or [TechnicianFactory() for _ in range(count)]
    shop = Shop(admin=admin, master=master, clock=utc_now)
    tickets = []
    for index in range(count):
        item = InventoryItemFactory()
        parts = [InventoryItemPartFactory(inventory_item=item) for _ in minutes]
        technician = technicians[index % len(technicians)]
        ticket = shop.assigned(technician, item=item, parts=parts, minutes=minutes, title=f"ticket {index}")
        tickets.append((ticket.pk, technician))
    return tickets


def pending_command(actor, command_type: str, *, at: datetime, submitter=None, lane: str | None = None, **payload):
    """A command stored pending in the inbox as intake stores it, but pressed and stored at `at` (intake reads
    PostgreSQL's clock instead). `submitter` defaults to the actor; the lane is the item's for `ticket.create`,
    else the ticket's. Nothing is published: a worker never sees it."""
    if lane is None:
        create = command_type == "ticket.create"
        lane = f"item:{payload['inventory_item_id']}" if create else f"ticket:{payload['ticket_id']}"
    return Command.objects.create(
        type=command_type,
        payload=payload,
        lane=lane,
        ticket_id=payload.get("ticket_id"),
        inventory_item_id=payload.get("inventory_item_id"),
        submitter=submitter or actor,
        actor=actor,
        fingerprint="-",
        submitted_at=at,
        occurred_at=at,
    )
