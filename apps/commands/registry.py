"""Every command type: its payload schema, the roles allowed to submit it, its lane and its service call.

Adding a command type is one entry in REGISTRY. Handlers are thin: translate the payload, call one service.
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

Handler = Callable[..., TicketOutcome | None]


@dataclass(frozen=True)
class CommandType:
    name: str
    schema: type[s.Payload]
    roles: frozenset[str]
    handler: Handler
    public: bool = True  # False: system commands, never accepted over HTTP

    def lane(self, payload: s.Payload) -> str:
        if isinstance(payload, s.TicketCreate):
            return f"item:{payload.inventory_item_id}"
        return f"ticket:{payload.ticket_id}"


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


def _set_part_specs(p: s.TicketSetPartSpecs, actor: User, at: datetime):
    return metrics.set_ticket_part_specs(ticket_id=p.ticket_id, part_specs=_specs(p), actor=actor, at=at)


def _set_manual_metrics(p: s.TicketSetManualMetrics, actor: User, at: datetime):
    return metrics.set_manual_metrics(
        ticket_id=p.ticket_id, flag_color=p.flag_color, xp_amount=p.xp_amount, actor=actor, at=at
    )


def _clear_manual_metrics(p: s.TicketRef, actor: User, at: datetime):
    return metrics.clear_manual_metrics(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_start(p: s.TicketRef, actor: User, at: datetime):
    return sessions.start_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_pause(p: s.TicketRef, actor: User, at: datetime):
    return sessions.pause_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_resume(p: s.TicketRef, actor: User, at: datetime):
    return sessions.resume_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_stop(p: s.TicketRef, actor: User, at: datetime):
    return sessions.stop_work_session(ticket_id=p.ticket_id, actor=actor, at=at)


def _session_auto_resume(p: s.WorkSessionAutoResume, actor: User | None, at: datetime):
    return sessions.auto_resume_work_session(session_id=p.session_id, now=at)


ADMIN = frozenset({Role.ADMIN})
MASTER_OR_ADMIN = frozenset({Role.MASTER, Role.ADMIN})
TECHNICIAN = frozenset({Role.TECHNICIAN})
QC = frozenset({Role.QC_INSPECTOR, Role.ADMIN})

_TYPES = [
    CommandType("ticket.create", s.TicketCreate, MASTER_OR_ADMIN, _create),
    CommandType("ticket.approve_review", s.TicketRef, ADMIN, _approve),
    CommandType("ticket.assign", s.TicketAssign, MASTER_OR_ADMIN, _assign),
    CommandType("ticket.start", s.TicketRef, TECHNICIAN, _start),
    CommandType("ticket.to_waiting_qc", s.TicketWithNote, TECHNICIAN, _to_waiting_qc),
    CommandType("ticket.qc_pass", s.TicketWithNote, QC, _qc_pass),
    CommandType("ticket.qc_fail", s.TicketWithNote, QC, _qc_fail),
    CommandType("ticket.set_part_specs", s.TicketSetPartSpecs, MASTER_OR_ADMIN, _set_part_specs),
    CommandType("ticket.set_manual_metrics", s.TicketSetManualMetrics, ADMIN, _set_manual_metrics),
    CommandType("ticket.clear_manual_metrics", s.TicketRef, ADMIN, _clear_manual_metrics),
    CommandType("work_session.start", s.TicketRef, TECHNICIAN, _session_start),
    CommandType("work_session.pause", s.TicketRef, TECHNICIAN, _session_pause),
    CommandType("work_session.resume", s.TicketRef, TECHNICIAN, _session_resume),
    CommandType("work_session.stop", s.TicketRef, TECHNICIAN, _session_stop),
    CommandType("work_session.auto_resume", s.WorkSessionAutoResume, frozenset(), _session_auto_resume, public=False),
]

REGISTRY: dict[str, CommandType] = {command_type.name: command_type for command_type in _TYPES}
PUBLIC_TYPES: list[str] = [name for name, command_type in REGISTRY.items() if command_type.public]
