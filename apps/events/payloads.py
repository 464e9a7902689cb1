"""Each kind of change as a `NewEvent`, its `data` in the API's own representations (API.md, Events)."""

from datetime import datetime

from apps.commands.models import Command
from apps.commands.representations import command_data
from apps.events.models import EventType
from apps.events.recording import NewEvent, command_in_flight
from apps.events.representations import utc_text_sql
from apps.rules.models import RulesVersion
from apps.ticket.models import Ticket, TicketTransition, WorkSession, WorkSessionTransition
from apps.ticket.representations import ticket_data, work_session_data
from apps.xp.models import XpEntry


def history_event(aggregate: Ticket | WorkSession, row: TicketTransition | WorkSessionTransition) -> NewEvent:
    """The event of one history row, written beside it (apps/ticket/models.py, HistoryMixin)."""
    if isinstance(aggregate, Ticket):
        return ticket_event(
            aggregate, f"ticket.{row.action}", at=row.created_at, from_status=row.from_status, actor_id=row.actor_id
        )
    return work_session_event(aggregate, row)


def ticket_event(
    ticket: Ticket, event_type: str, *, at: datetime, from_status: str | None, actor_id: int | None
) -> NewEvent:
    return NewEvent(
        type=event_type,
        occurred_at=at,
        data={"ticket": ticket_without_specs(ticket), "from_status": from_status, "to_status": ticket.status},
        ticket_id=ticket.pk,
        technician_id=ticket.technician_id,
        actor_id=actor_id,
    )


def metrics_recomputed(ticket: Ticket) -> NewEvent:
    """A rules change moved the ticket's metrics (its `updated_at` is the change's instant)."""
    return ticket_event(
        ticket, EventType.TICKET_METRICS_RECOMPUTED, at=ticket.updated_at, from_status=ticket.status, actor_id=None
    )


def metrics_recomputed_sql(rows: str) -> str:
    """An INSERT of `metrics_recomputed`'s event for each row of `rows` (a ticket-shaped relation, e.g. a CTE's
    RETURNING), written by PostgreSQL in id order: a rules change moves up to every active ticket, and building a
    hundred thousand events in Python cost ten times the UPDATE that moved them. The same event as the Python
    form: tests/integration/test_events.py compares the two."""
    ticket = ", ".join(f"'{key}', {_TICKET_COLUMNS.get(key, key)}" for key in _TICKET_KEYS)
    return f"""
        INSERT INTO event (id, type, occurred_at, ticket_id, technician_id, actor_id, command_id, data)
        SELECT gen_random_uuid(), '{EventType.TICKET_METRICS_RECOMPUTED}', updated_at, id, technician_id, NULL, NULL,
               jsonb_build_object('ticket', jsonb_build_object({ticket}), 'from_status', status, 'to_status', status)
        FROM {rows}
        ORDER BY id
    """


def work_session_event(session: WorkSession, row: WorkSessionTransition) -> NewEvent:
    represented = work_session_data(session, now=row.event_at)
    del represented["transitions"]
    return NewEvent(
        type=f"work_session.{row.action}",
        occurred_at=row.event_at,
        data={"work_session": represented, "auto_resumed": bool(row.metadata.get("auto_resumed", False))},
        ticket_id=session.ticket_id,
        technician_id=session.technician_id,
        actor_id=row.actor_id,
    )


def xp_awarded(entry: XpEntry) -> NewEvent:
    from apps.xp.api import xp_entry_data  # the ledger's representation; that module imports the XP services

    command = command_in_flight()
    return NewEvent(
        type=EventType.XP_AWARDED,
        occurred_at=entry.created_at,
        data={"entry": xp_entry_data(entry)},
        ticket_id=entry.ticket_id,
        technician_id=entry.user_id,
        actor_id=command.actor_id if command else None,
    )


def command_finished(command: Command, event_type: str, *, at: datetime) -> NewEvent:
    """`command.rejected` or `command.failed`, at the instant the command was judged as of (or gave up)."""
    return NewEvent(
        type=event_type,
        occurred_at=at,
        data={"command": command_data(command)},
        ticket_id=command.ticket_id,
        actor_id=command.actor_id,
    )


def rules_changed(version: RulesVersion) -> NewEvent:
    return NewEvent(
        type=EventType.RULES_CHANGED,
        occurred_at=version.created_at,
        data={"version": version.version, "config": version.config},
        actor_id=version.created_by_id,
    )


def ticket_without_specs(ticket: Ticket) -> dict:
    represented = ticket_data(ticket, specs=[])  # no query for the specs the event leaves out
    del represented["part_specs"]
    return represented


# `ticket_without_specs`'s keys, and the SQL of those that are not a column of the same name.
_TICKET_KEYS = (
    "id", "inventory_item_id", "title", "status", "master_id", "technician_id", "approved_by_id", "approved_at",
    "assigned_at", "started_at", "finished_at", "total_duration", "flag_minutes", "flag_color", "xp_amount",
    "is_manual", "created_at", "updated_at",
)  # fmt: skip
_TICKET_COLUMNS = {  # NULL stays NULL (to_char of NULL is NULL): JSON null, as isoformat_utc(None)
    instant: utc_text_sql(instant)
    for instant in ("approved_at", "assigned_at", "started_at", "finished_at", "created_at", "updated_at")
}
