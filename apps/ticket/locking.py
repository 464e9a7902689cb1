"""Row locks, always taken in one order so two transactions never wait on each other in a cycle:
inventory item → ticket → technician (user row) → work session.
"""

from apps.accounts.models import User
from apps.common.errors import DomainError, ErrorCode
from apps.inventory.models import InventoryItem
from apps.ticket.models import Ticket, WorkSession


def lock_item(item_id: int) -> InventoryItem:
    item = InventoryItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"inventory item {item_id} does not exist")
    return item


def lock_ticket(ticket_id: int) -> Ticket:
    ticket = Ticket.domain.alive().select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"ticket {ticket_id} does not exist")
    return ticket


def lock_technician(user_id: int) -> User:
    """Serialises everything that reads or changes one technician's sessions and pause budget."""
    return User.objects.select_for_update().get(pk=user_id)


def lock_open_session_for_technician(technician_id: int) -> WorkSession | None:
    return WorkSession.domain.open_for_technician(technician_id).select_for_update().first()
