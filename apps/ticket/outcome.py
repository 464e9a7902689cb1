from dataclasses import dataclass

from apps.ticket.models import Ticket, WorkSession


@dataclass(frozen=True)
class TicketOutcome:
    """What a ticket service changed: the ticket, and the work session it opened or changed (if any)."""

    ticket: Ticket
    work_session: WorkSession | None = None
