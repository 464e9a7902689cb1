"""Read endpoints for tickets, their history and work sessions, and technicians' pause budgets."""

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field as F
from ninja import Query, Router, Schema
from pydantic import ConfigDict

from apps.accounts.api import user_or_404
from apps.common.api import DAY_FORMAT, ListQuery, paginate, query_day
from apps.common.problems import Problem
from apps.common.time import isoformat_utc, utc_now
from apps.rules.selectors import active_rules
from apps.ticket import pause_budget
from apps.ticket.models import Ticket, TicketPartSpec, TicketTransition, WorkSession, WorkSessionTransition
from apps.ticket.representations import ticket_data, ticket_transition_data, work_session_data
from apps.ticket.selectors import pause_budget_for

router = Router(tags=["tickets"])
technicians = Router(tags=["technicians"])

TicketStatusName = Literal["under_review", "new", "assigned", "in_progress", "waiting_qc", "rework", "done"]
ColorName = Literal["green", "yellow", "red"]


class PartSpecOut(Schema):
    model_config = ConfigDict(title="PartSpec")
    id: int
    inventory_item_part_id: int
    color: ColorName
    minutes: int
    comment: str


class TicketOut(Schema):
    model_config = ConfigDict(title="Ticket")
    id: int
    inventory_item_id: int
    title: str
    status: TicketStatusName
    master_id: int | None
    technician_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    assigned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    total_duration: int
    flag_minutes: int
    flag_color: ColorName
    xp_amount: int
    is_manual: bool
    part_specs: list[PartSpecOut]
    created_at: datetime
    updated_at: datetime


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None


class TicketTransitionOut(Schema):
    model_config = ConfigDict(title="TicketTransition")
    id: int
    action: str
    from_status: str | None
    to_status: str
    actor_id: int | None
    note: str
    metadata: dict[str, Any]
    created_at: datetime


class TicketTransitionPage(Schema):
    items: list[TicketTransitionOut]
    next_cursor: str | None


class SessionTransitionOut(Schema):
    model_config = ConfigDict(title="WorkSessionTransition")
    id: int
    action: Literal["started", "paused", "resumed", "stopped"]
    from_status: str | None
    to_status: str
    actor_id: int | None
    event_at: datetime
    metadata: dict[str, Any]


class WorkSessionOut(Schema):
    model_config = ConfigDict(title="WorkSession")
    id: int
    ticket_id: int
    technician_id: int
    status: Literal["running", "paused", "stopped"]
    started_at: datetime
    ended_at: datetime | None
    active_seconds: float
    live_active_seconds: float
    auto_resume_at: datetime | None
    transitions: list[SessionTransitionOut]


class WorkSessionPage(Schema):
    items: list[WorkSessionOut]
    next_cursor: str | None


class PauseBudgetOut(Schema):
    model_config = ConfigDict(title="PauseBudget")
    technician_id: int
    date: date
    timezone: str
    limit_seconds: int
    used_seconds: int
    remaining_seconds: int
    paused_session_id: int | None
    auto_resume_at: datetime | None


class TicketFilters(ListQuery):
    status: TicketStatusName | None = None
    technician_id: int | None = F(None, ge=1, le=2**63 - 1)
    inventory_item_id: int | None = F(None, ge=1, le=2**63 - 1)
    flag_color: ColorName | None = None


@router.get("", response=TicketPage, operation_id="listTickets", summary="List tickets")
def list_tickets(request, filters: Query[TicketFilters]):
    tickets = Ticket.domain.alive()
    for field in ("status", "technician_id", "inventory_item_id", "flag_color"):
        value = getattr(filters, field)
        if value is not None:
            tickets = tickets.filter(**{field: value})
    page = paginate(tickets, query=filters, render=lambda ticket: ticket)
    specs = _specs_by_ticket([ticket.pk for ticket in page["items"]])
    page["items"] = [ticket_data(ticket, specs.get(ticket.pk, [])) for ticket in page["items"]]
    return page


@router.get("/{int:ticket_id}", response=TicketOut, operation_id="getTicket", summary="One ticket")
def get_ticket(request, ticket_id: int):
    return ticket_data(_ticket_or_404(ticket_id))


@router.get(
    "/{int:ticket_id}/transitions",
    response=TicketTransitionPage,
    operation_id="listTicketTransitions",
    summary="A ticket's history, oldest first",
)
def ticket_transitions(request, ticket_id: int, query: Query[ListQuery]):
    _ticket_or_404(ticket_id)
    rows = TicketTransition.domain.filter(ticket_id=ticket_id)
    return paginate(rows, query=query, render=ticket_transition_data)


@router.get(
    "/{int:ticket_id}/work-sessions",
    response=WorkSessionPage,
    operation_id="listTicketWorkSessions",
    summary="A ticket's work sessions",
)
def ticket_work_sessions(request, ticket_id: int, query: Query[ListQuery]):
    _ticket_or_404(ticket_id)
    page = paginate(WorkSession.domain.alive().filter(ticket_id=ticket_id), query=query, render=lambda s: s)
    sessions = page["items"]
    history: dict[int, list[WorkSessionTransition]] = {}
    for row in WorkSessionTransition.domain.for_sessions([s.pk for s in sessions]):
        history.setdefault(row.session_id, []).append(row)
    now = utc_now()
    page["items"] = [_session_data(session, history.get(session.pk, []), now) for session in sessions]
    return page


@technicians.get(
    "/{int:technician_id}/pause-budget",
    response=PauseBudgetOut,
    operation_id="getPauseBudget",
    summary="A technician's pause budget",
)
def technician_pause_budget(
    request,
    technician_id: int,
    date: str | None = Query(None, description=f"the local day in the rules' time zone ({DAY_FORMAT}); default today"),
):
    user_or_404(technician_id)
    now = utc_now()
    zone = active_rules().config.work_session.zone
    day = query_day(date, name="date") if date else pause_budget.local_day_of(now, zone)
    budget = pause_budget_for(technician_id=technician_id, day=day, now=now)
    return {
        "technician_id": budget.technician_id,
        "date": budget.day.isoformat(),
        "timezone": budget.timezone,
        "limit_seconds": budget.limit_seconds,
        "used_seconds": budget.used_seconds,
        "remaining_seconds": budget.remaining_seconds,
        "paused_session_id": budget.paused_session_id,
        "auto_resume_at": isoformat_utc(budget.auto_resume_at),
    }


def _session_data(session: WorkSession, history: list, now) -> dict:
    session._history = history  # loaded for the whole page in one query
    return work_session_data(session, now=now)


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = Ticket.domain.alive().filter(pk=ticket_id).first()
    if ticket is None:
        raise Problem(404, "not_found", f"ticket {ticket_id} does not exist")
    return ticket


def _specs_by_ticket(ticket_ids: list[int]) -> dict[int, list[TicketPartSpec]]:
    grouped: dict[int, list[TicketPartSpec]] = {}
    for spec in TicketPartSpec.objects.alive().filter(ticket_id__in=ticket_ids).order_by("id"):
        grouped.setdefault(spec.ticket_id, []).append(spec)
    return grouped
