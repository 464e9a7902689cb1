"""Row locks, always taken in one order so two transactions never wait on each other in a cycle:
inventory item → ticket → technician (user row) → work session.
"""

from django.db.models import OuterRef, Subquery

from apps.accounts.models import User
from apps.common.errors import DomainError, ErrorCode
from apps.inventory.models import InventoryItem
from apps.ticket.models import Ticket, WorkSession, WorkSessionTransition
from apps.ticket.representations import part_specs_as_read


def lock_item(item_id: int) -> InventoryItem:
    item = InventoryItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"inventory item {item_id} does not exist")
    return item


def lock_ticket(ticket_id: int, *, with_part_specs: bool = False) -> Ticket:
    """The ticket, locked. `with_part_specs`: for a service that leaves the part specs as they are, their
    representation is read in the same statement (`Ticket.part_specs_read`), sparing the result a query."""
    tickets = Ticket.domain.alive().select_for_update()
    if with_part_specs:
        tickets = tickets.annotate(part_specs_read=part_specs_as_read(OuterRef("pk")))
    ticket = tickets.filter(pk=ticket_id).first()
    if ticket is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"ticket {ticket_id} does not exist")
    return ticket


def lock_technician(user_id: int) -> User:
    """Serialises everything that reads or changes one technician's sessions and pause budget."""
    return User.objects.select_for_update().get(pk=user_id)


def lock_open_session_for_technician(technician_id: int) -> WorkSession | None:
    return WorkSession.domain.open_for_technician(technician_id).select_for_update().first()


def lock_open_session_of_ticket(ticket_id: int, **also_read: Subquery) -> WorkSession | None:
    """The ticket's open session with its technician's row, both locked in one statement in this module's order
    (PostgreSQL locks them in the order FOR UPDATE OF names them), its history read in the same statement.
    `also_read`: further expressions read with them, set on the session under their names."""
    sessions = (
        WorkSession.domain.open_for_ticket(ticket_id)
        .select_related("technician")
        .select_for_update(of=("technician", "self"))
    )
    history = WorkSessionTransition.domain.history_as_read(OuterRef("pk"))
    session = sessions.annotate(history_read=history, **also_read).first()
    if session is not None:
        session.adopt_history(session.history_read)
    return session
