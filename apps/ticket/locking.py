"""Row locks, always taken in one order so two transactions never wait on each other in a cycle:
inventory item → ticket → technician (user row) → work session.

The reads every command makes (its ticket, its technician, its open session) are precompiled
(apps/common/precompiled.py): composing them cost the worker more CPU than PostgreSQL spent running them.
"""

from datetime import datetime

from django.db.models import OuterRef

from apps.accounts.models import User
from apps.common.errors import DomainError, ErrorCode
from apps.common.precompiled import PrecompiledRead
from apps.inventory.models import InventoryItem
from apps.ticket.models import Ticket, WorkSession, WorkSessionTransition
from apps.ticket.representations import part_specs_as_read
from apps.ticket.selectors import pause_history_as_read


def lock_item(item_id: int) -> InventoryItem:
    item = InventoryItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"inventory item {item_id} does not exist")
    return item


def _ticket(ticket_id: int):
    return Ticket.domain.alive().select_for_update().filter(pk=ticket_id)


def _ticket_with_part_specs(ticket_id: int):
    return _ticket(ticket_id).annotate(part_specs_read=part_specs_as_read(OuterRef("pk")))


_read_ticket = PrecompiledRead(lambda ticket_id: _ticket(ticket_id)[:1])
_read_ticket_with_part_specs = PrecompiledRead(lambda ticket_id: _ticket_with_part_specs(ticket_id)[:1])
_read_technician = PrecompiledRead(lambda user_id: User.objects.select_for_update().filter(pk=user_id)[:1])


def lock_ticket(ticket_id: int, *, with_part_specs: bool = False) -> Ticket:
    """The ticket, locked. `with_part_specs`: for a service that leaves the part specs as they are, their
    representation is read in the same statement (`Ticket.part_specs_read`), sparing the result a query."""
    found = (_read_ticket_with_part_specs if with_part_specs else _read_ticket)(ticket_id)
    if not found:
        raise DomainError(ErrorCode.NOT_FOUND, f"ticket {ticket_id} does not exist")
    return found[0]


def lock_technician(user_id: int) -> User:
    """Serialises everything that reads or changes one technician's sessions and pause budget."""
    found = _read_technician(user_id)
    if not found:
        raise User.DoesNotExist(f"user {user_id} does not exist")  # as `get` would
    return found[0]


_read_open_session_for_technician = PrecompiledRead(
    lambda technician_id: WorkSession.domain.open_for_technician(technician_id).select_for_update().order_by("pk")[:1]
)


def lock_open_session_for_technician(technician_id: int) -> WorkSession | None:
    found = _read_open_session_for_technician(technician_id)
    return found[0] if found else None


def _open_session_of_ticket(ticket_id: int):
    sessions = (
        WorkSession.domain.open_for_ticket(ticket_id)
        .select_related("technician")
        .select_for_update(of=("technician", "self"))
    )
    return sessions.annotate(history_read=WorkSessionTransition.domain.history_as_read(OuterRef("pk")))


def _open_session_of_ticket_with_budget(ticket_id: int, technician_id: int, lo: datetime, hi: datetime):
    return _open_session_of_ticket(ticket_id).annotate(budget_read=pause_history_as_read(technician_id, lo, hi))


# At most one open session per ticket (a unique index): the first is the one.
_read_open_session_of_ticket = PrecompiledRead(lambda ticket_id: _open_session_of_ticket(ticket_id)[:1])
_read_open_session_of_ticket_with_budget = PrecompiledRead(lambda *args: _open_session_of_ticket_with_budget(*args)[:1])


def lock_open_session_of_ticket(
    ticket_id: int, *, budget_of: tuple[int, datetime, datetime] | None = None
) -> WorkSession | None:
    """The ticket's open session with its technician's row, both locked in one statement in this module's order
    (PostgreSQL locks them in the order FOR UPDATE OF names them), its history read in the same statement.
    `budget_of` (technician id, local day's bounds): the pause history of that technician's day is read with them
    too (`selectors.pause_history_as_read`), set on the session as `budget_read`."""
    if budget_of is None:
        found = _read_open_session_of_ticket(ticket_id)
    else:
        found = _read_open_session_of_ticket_with_budget(ticket_id, *budget_of)
    if not found:
        return None
    session = found[0]
    session.adopt_history(session.history_read)
    return session
