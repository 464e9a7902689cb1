"""Ticket workflow services: one transaction each; lock, re-check state after the lock, change, append history."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Sum

from apps.accounts.models import Role, User
from apps.common.db import refusing_on_violation
from apps.common.errors import DomainError, ErrorCode
from apps.common.one_statement import Update
from apps.common.precompiled import PrecompiledRead
from apps.inventory.models import InventoryItem, InventoryItemStatus
from apps.rules.selectors import active_rules
from apps.ticket.inputs import PartSpecInput
from apps.ticket.locking import lock_item, lock_technician, lock_ticket
from apps.ticket.models import REFUSED_BY_GUARD, Guard, Ticket, TicketTransition, WorkSession
from apps.ticket.outcome import TicketOutcome
from apps.ticket.services_metrics import METRIC_FIELDS, validate_part_specs, write_part_specs
from apps.ticket.services_work_session import open_session
from apps.xp.models import XpKind
from apps.xp.services import Award, award_xp_once_each


@transaction.atomic
def create_ticket(
    *, inventory_item_id: int, title: str, part_specs: Sequence[PartSpecInput], master: User, at: datetime
) -> TicketOutcome:
    item = lock_item(inventory_item_id)
    if Ticket.domain.active_for_item(item.pk).exists():
        raise DomainError(*REFUSED_BY_GUARD[Guard.ONE_ACTIVE_TICKET_PER_ITEM])
    validate_part_specs(part_specs, inventory_item_id=item.pk)
    ticket = Ticket.open_for_item(item, title=title, master=master, at=at, part_spec_count=len(part_specs))
    with refusing_on_violation(REFUSED_BY_GUARD):
        ticket.save()
    write_part_specs(ticket, part_specs, at=at)
    ticket.save_with_history(update_fields=METRIC_FIELDS)
    return TicketOutcome(ticket)


@transaction.atomic
def approve_ticket_review(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.require_independent_review(actor, policy=active_rules().config.policy)
    if ticket.approve_review(actor=actor, at=at):
        ticket.save_with_history(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    return TicketOutcome(ticket)


@transaction.atomic
def assign_ticket(*, ticket_id: int, technician_id: int, actor: User, at: datetime) -> TicketOutcome:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    technician = User.objects.filter(pk=technician_id, is_active=True).first()
    if technician is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"user {technician_id} does not exist")
    if not technician.has_role(Role.TECHNICIAN):
        raise DomainError(ErrorCode.VALIDATION_ERROR, f"user {technician_id} is not a technician")
    ticket.assign_to_technician(technician, actor=actor, at=at)
    ticket.save_with_history(update_fields=["status", "technician", "assigned_at", "updated_at"])
    return TicketOutcome(ticket)


@transaction.atomic
def start_ticket(*, ticket_id: int, actor: User, at: datetime) -> TicketOutcome:
    """assigned/rework → in_progress, opening the first work session; the item goes into service."""
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.start_progress(actor=actor, at=at)
    lock_technician(actor.pk)
    # The ticket first, so its event precedes the session's; a session refused below rolls both back.
    ticket.save_with_history(
        update_fields=["status", "started_at", "updated_at"],
        alongside=[_item_status(ticket, InventoryItemStatus.IN_SERVICE)],
    )
    session = open_session(ticket, technician=actor, at=at)
    return TicketOutcome(ticket, session)


@transaction.atomic
def move_ticket_to_waiting_qc(*, ticket_id: int, actor: User, at: datetime, note: str = "") -> TicketOutcome:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    found = _read_latest_session(ticket.pk, actor.pk)
    latest = found[0] if found else None
    ticket.move_to_waiting_qc(actor=actor, at=at, latest_session=latest, note=note)
    ticket.save_with_history(update_fields=["status", "updated_at"])
    return TicketOutcome(ticket)


# Composed by the ORM on every move to QC, this read was half of the move's Python (py-spy of a bench run).
_read_latest_session = PrecompiledRead(
    lambda ticket_id, technician_id: WorkSession.domain.newest_first(ticket_id, technician_id)[:1]
)


@transaction.atomic
def pass_ticket_qc(*, ticket_id: int, actor: User, at: datetime, note: str = "") -> TicketOutcome:
    """waiting_qc → done: the item is ready again; the technician and the inspector earn XP."""
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.require_independent_qc(actor, policy=active_rules().config.policy)
    earns_bonus = _first_pass_within_plan(ticket)  # read before the pass is recorded
    transition = ticket.mark_qc_pass(actor=actor, at=at, note=note)
    ticket.save_with_history(
        update_fields=["status", "finished_at", "updated_at"],
        alongside=[_item_status(ticket, InventoryItemStatus.READY)],
    )
    _award_qc_pass_xp(ticket, inspector=actor, earns_bonus=earns_bonus, transition=transition, at=at)
    return TicketOutcome(ticket)


@transaction.atomic
def fail_ticket_qc(*, ticket_id: int, actor: User, at: datetime, note: str = "") -> TicketOutcome:
    """waiting_qc → rework; the inspector earns the QC status-update XP."""
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.require_independent_qc(actor, policy=active_rules().config.policy)
    transition = ticket.mark_qc_fail(actor=actor, at=at, note=note)
    ticket.save_with_history(update_fields=["status", "finished_at", "updated_at"])
    xp_rules = active_rules().config.ticket_xp
    award_xp_once_each(
        [_inspector_award(ticket, actor, xp_rules.qc_status_update_xp, transition)], ticket_id=ticket.pk, at=at
    )
    return TicketOutcome(ticket)


def _item_status(ticket: Ticket, status: InventoryItemStatus) -> Update:
    """The ticket's item's new status, to write with the ticket's change: the row need not be loaded first."""
    return Update(InventoryItem(pk=ticket.inventory_item_id, status=status), ["status"])


def _award_qc_pass_xp(ticket: Ticket, *, inspector: User, earns_bonus: bool, transition, at: datetime) -> None:
    xp_rules = active_rules().config.ticket_xp
    awards = [_award(ticket, ticket.technician_id, XpKind.TICKET_BASE_XP, ticket.xp_amount, "base")]
    if earns_bonus:
        bonus = xp_rules.first_pass_bonus
        awards.append(_award(ticket, ticket.technician_id, XpKind.TICKET_FIRST_PASS_BONUS, bonus, "first_pass_bonus"))
    awards.append(_inspector_award(ticket, inspector, xp_rules.qc_status_update_xp, transition))
    award_xp_once_each(awards, ticket_id=ticket.pk, at=at)


def _inspector_award(ticket: Ticket, inspector: User, amount: int, transition) -> Award:
    return _award(ticket, inspector.pk, XpKind.QC_STATUS_UPDATE, amount, f"qc:{transition.pk}")


def _award(ticket: Ticket, user_id: int, kind: XpKind, amount: int, reference: str) -> Award:
    """The reference is unique per ledger entry, so a replayed QC decision never awards twice."""
    return Award(user_id, kind, amount, f"ticket:{ticket.pk}:{reference}")


def _first_pass_within_plan(ticket: Ticket) -> bool:
    """The first-pass bonus's condition: never failed QC, and worked no longer than planned. One statement."""
    (facts,) = _read_bonus_facts(ticket.pk)
    return not facts.failed_before and (facts.worked_seconds or 0) <= ticket.total_duration * 60


def _bonus_facts(ticket_id: int):
    worked = WorkSession.domain.alive().filter(ticket_id=OuterRef("pk")).values("ticket_id")
    return (
        Ticket.objects.filter(pk=ticket_id)
        .annotate(
            failed_before=Exists(TicketTransition.domain.qc_fails(OuterRef("pk"))),
            worked_seconds=Subquery(worked.annotate(total=Sum("active_seconds")).values("total")),
        )
        .only("pk")[:1]
    )


# Composed by the ORM on every QC pass, this read cost the worker a third of what the pass's Python did (py-spy of
# a bench run); composed once per connection, a call only binds the ticket's id (apps/common/precompiled.py).
_read_bonus_facts = PrecompiledRead(_bonus_facts)
