"""Every command type: its payload schema, the roles allowed to submit it, its lane, whether it settles a due
automatic resume first, and its service call.

Adding a command type is one entry in REGISTRY (plus its schema and its service). Handlers are thin: translate the
payload, call one service.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from apps.accounts.models import Role, User
from apps.commands import schemas as s
from apps.ticket import services_metrics as metrics
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.inputs import PartSpecInput
from apps.ticket.outcome import TicketOutcome
from apps.xp import services as xp

Handler = Callable[..., TicketOutcome | None]


Lane = Callable[[s.Payload], str]


def ticket_lane(payload) -> str:
    return f"ticket:{payload.ticket_id}"


def item_lane(payload) -> str:
    """A ticket that does not exist yet is ordered by its inventory item (one active ticket per item)."""
    return f"item:{payload.inventory_item_id}"


def technician_lane(payload) -> str:
    """Commands on one technician's XP ledger, not on a ticket, are ordered per technician."""
    return f"technician:{payload.technician_id}"


@dataclass(frozen=True)
class CommandType:
    name: str
    schema: type[s.Payload]
    roles: frozenset[str]
    handler: Handler
    # Commands of one lane are applied one at a time, in acceptance order.
    lane: Lane
    # The command touches a technician's work session: a due automatic resume of the ticket's or the actor's
    # session is applied first (DESIGN.md, pause budget), so the command meets the session as it really is.
    settles_session: bool
    public: bool = True  # False: system commands, never accepted over HTTP


def _specs(payload) -> list[PartSpecInput]:
    return [PartSpecInput(**spec.model_dump()) for spec in payload.part_specs]


def _create(p: s.TicketCreate, actor: User, at: datetime):
    return workflow.create_ticket(
        inventory_item_id=p.inventory_item_id, title=p.title, part_specs=_specs(p), master=actor, at=at
    )


def _approve(p: s.TicketRef, actor: User, at: datetime):
    return workflow.approve_ticket_review(ticket_id=p.ticket_id, actor=actor, at=at)


def _assign(p: s.TicketAssign, actor: User, at: datetime):
    return workflow.assign_ticket(ticket_id=p.ticket_id, technician_id=p.technician_id, actor=actor, at=at)


def _start(p: s.TicketRef, actor: User, at: datetime):
    return workflow.start_ticket(ticket_id=p.ticket_id, actor=actor, at=at)


def _to_waiting_qc(p: s.TicketWithNote, actor: User, at: datetime):
    return workflow.move_ticket_to_waiting_qc(ticket_id=p.ticket_id, actor=actor, at=at, note=p.note)


def _qc_pass(p: s.TicketWithNote, actor: User, at: datetime):
    return workflow.pass_ticket_qc(ticket_id=p.ticket_id, actor=actor, at=at, note=p.note)


def _qc_fail(p: s.TicketWithNote, actor: User, at: datetime):
    return workflow.fail_ticket_qc(ticket_id=p.ticket_id, actor=actor, at=at, note=p.note)


def _set_specs(p: s.TicketSetPartSpecs, actor: User, at: datetime):
    return metrics.set_ticket_part_specs(ticket_id=p.ticket_id, part_specs=_specs(p), actor=actor, at=at)


def _set_manual(p: s.TicketSetManualMetrics, actor: User, at: datetime):
    return metrics.set_manual_metrics(
        ticket_id=p.ticket_id, flag_color=p.flag_color, xp_amount=p.xp_amount, actor=actor, at=at
    )


def _clear_manual(p: s.TicketRef, actor: User, at: datetime):
    return metrics.clear_manual_metrics(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_start(p: s.TicketRef, actor: User, at: datetime):
    return sessions.start_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_pause(p: s.TicketRef, actor: User, at: datetime):
    return sessions.pause_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_resume(p: s.TicketRef, actor: User, at: datetime):
    return sessions.resume_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_stop(p: s.TicketRef, actor: User, at: datetime):
    return sessions.stop_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _adjust_xp(p: s.XpAdjust, actor: User, at: datetime):
    xp.adjust_xp(technician_id=p.technician_id, amount=p.amount, reason=p.reason, at=at)


def _auto_resume(p: s.WorkSessionAutoResume, actor: User | None, at: datetime):
    return sessions.auto_resume_work_session(session_id=p.session_id, at=at)


ADMIN = frozenset({Role.ADMIN})
MASTER_OR_ADMIN = frozenset({Role.MASTER, Role.ADMIN})
TECHNICIAN = frozenset({Role.TECHNICIAN})
QC = frozenset({Role.QC_INSPECTOR, Role.ADMIN})
SYSTEM: frozenset[str] = frozenset()  # no user submits these

_TYPES = [
    # CommandType(name, payload schema, roles, handler, lane, settles_session)
    CommandType("ticket.create", s.TicketCreate, MASTER_OR_ADMIN, _create, item_lane, False),
    CommandType("ticket.approve_review", s.TicketRef, ADMIN, _approve, ticket_lane, False),
    CommandType("ticket.assign", s.TicketAssign, MASTER_OR_ADMIN, _assign, ticket_lane, False),
    CommandType("ticket.start", s.TicketRef, TECHNICIAN, _start, ticket_lane, True),
    CommandType("ticket.to_waiting_qc", s.TicketWithNote, TECHNICIAN, _to_waiting_qc, ticket_lane, True),
    CommandType("ticket.qc_pass", s.TicketWithNote, QC, _qc_pass, ticket_lane, False),
    CommandType("ticket.qc_fail", s.TicketWithNote, QC, _qc_fail, ticket_lane, False),
    CommandType("ticket.set_part_specs", s.TicketSetPartSpecs, MASTER_OR_ADMIN, _set_specs, ticket_lane, False),
    CommandType("ticket.set_manual_metrics", s.TicketSetManualMetrics, ADMIN, _set_manual, ticket_lane, False),
    CommandType("ticket.clear_manual_metrics", s.TicketRef, ADMIN, _clear_manual, ticket_lane, False),
    CommandType("work_session.start", s.TicketRef, TECHNICIAN, _session_start, ticket_lane, True),
    CommandType("work_session.pause", s.TicketRef, TECHNICIAN, _session_pause, ticket_lane, True),
    CommandType("work_session.resume", s.TicketRef, TECHNICIAN, _session_resume, ticket_lane, True),
    CommandType("work_session.stop", s.TicketRef, TECHNICIAN, _session_stop, ticket_lane, True),
    CommandType("xp.adjust", s.XpAdjust, ADMIN, _adjust_xp, technician_lane, False),
    CommandType(
        "work_session.auto_resume", s.WorkSessionAutoResume, SYSTEM, _auto_resume, ticket_lane, False, public=False
    ),
]

REGISTRY: dict[str, CommandType] = {command_type.name: command_type for command_type in _TYPES}
PUBLIC_TYPES: list[str] = [name for name, command_type in REGISTRY.items() if command_type.public]
