"""The API's JSON shapes of tickets and work sessions (API.md), shared by reads and command results."""

from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models.functions import JSONObject

from apps.common.time import isoformat_utc
from apps.ticket.models import Ticket, TicketPartSpec, TicketTransition, WorkSession, WorkSessionTransition


def ticket_data(ticket: Ticket, specs: list[TicketPartSpec] | None = None) -> dict:
    """`specs`: the ticket's live part specs if the caller has them; else read with the ticket's lock
    (apps.ticket.locking) or, failing that, now."""
    if specs is not None:
        part_specs = [part_spec_data(spec) for spec in specs]
    elif (read := getattr(ticket, "part_specs_read", None)) is not None:
        part_specs = read
    else:
        part_specs = [part_spec_data(spec) for spec in _live_specs(ticket.pk)]
    return {
        "id": ticket.pk,
        "inventory_item_id": ticket.inventory_item_id,
        "title": ticket.title,
        "status": ticket.status,
        "master_id": ticket.master_id,
        "technician_id": ticket.technician_id,
        "approved_by_id": ticket.approved_by_id,
        "approved_at": isoformat_utc(ticket.approved_at),
        "assigned_at": isoformat_utc(ticket.assigned_at),
        "started_at": isoformat_utc(ticket.started_at),
        "finished_at": isoformat_utc(ticket.finished_at),
        "total_duration": ticket.total_duration,
        "flag_minutes": ticket.flag_minutes,
        "flag_color": ticket.flag_color,
        "xp_amount": ticket.xp_amount,
        "is_manual": ticket.is_manual,
        "part_specs": part_specs,
        "created_at": isoformat_utc(ticket.created_at),
        "updated_at": isoformat_utc(ticket.updated_at),
    }


def _live_specs(ticket_id: int) -> list[TicketPartSpec]:
    return list(TicketPartSpec.objects.alive().filter(ticket_id=ticket_id).order_by("id"))


def part_specs_as_read(ticket_id) -> ArraySubquery:
    """The ticket's live part specs as `part_spec_data` gives them, built by PostgreSQL (`ticket_id` may be an
    OuterRef). Its keys must stay those of `part_spec_data` (a test compares the two)."""
    specs = TicketPartSpec.objects.alive().filter(ticket_id=ticket_id).order_by("id")
    return ArraySubquery(
        specs.values(
            data=JSONObject(
                id="id",
                inventory_item_part_id="inventory_item_part_id",
                color="color",
                minutes="minutes",
                comment="comment",
            )
        )
    )


def part_spec_data(spec: TicketPartSpec) -> dict:
    return {
        "id": spec.pk,
        "inventory_item_part_id": spec.inventory_item_part_id,
        "color": spec.color,
        "minutes": spec.minutes,
        "comment": spec.comment,
    }


def ticket_transition_data(row: TicketTransition) -> dict:
    return {**_transition_data(row), "note": row.note, "created_at": isoformat_utc(row.created_at)}


def work_session_data(session: WorkSession, *, now: datetime) -> dict:
    return {
        "id": session.pk,
        "ticket_id": session.ticket_id,
        "technician_id": session.technician_id,
        "status": session.status,
        "started_at": isoformat_utc(session.started_at),
        "ended_at": isoformat_utc(session.ended_at),
        "active_seconds": float(session.active_seconds),
        "live_active_seconds": float(session.recalculate_active_seconds(until=now)),
        "auto_resume_at": isoformat_utc(session.auto_resume_at),
        "transitions": [session_transition_data(row) for row in session.history()],
    }


def session_transition_data(row: WorkSessionTransition) -> dict:
    return {**_transition_data(row), "event_at": isoformat_utc(row.event_at)}


def _transition_data(row: TicketTransition | WorkSessionTransition) -> dict:
    return {
        "id": row.pk,
        "action": row.action,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "actor_id": row.actor_id,
        "metadata": row.metadata,
    }
