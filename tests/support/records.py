"""Reading back what the services stored: a row as the database has it now, and the histories they appended."""

from apps.ticket.models import TicketTransition, WorkSession, WorkSessionTransition


def reloaded(row):
    """The same row, read again from the database (a ticket, a work session, ...)."""
    return type(row).objects.get(pk=row.pk)


def steps(session: WorkSession) -> list[tuple]:
    """(action, event_at, actor_id) of the session's history, oldest first."""
    return list(session.transitions.order_by("event_at", "id").values_list("action", "event_at", "actor_id"))


def ticket_actions(ticket_id: int) -> list[str]:
    """The actions of the ticket's history, oldest first."""
    return list(TicketTransition.domain.history_for_ticket(ticket_id).values_list("action", flat=True))


def session_actions(ticket_id: int) -> list[str]:
    """The actions of every work session of the ticket, oldest first."""
    return list(
        WorkSessionTransition.objects.filter(session__ticket_id=ticket_id)
        .order_by("event_at", "id")
        .values_list("action", flat=True)
    )
