"""Ticket metrics: auto-derived from the active part specs, or frozen by an admin's manual override."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from apps.common.db import refusing_on_violation
from apps.common.errors import DomainError, ErrorCode
from apps.inventory.models import InventoryItemPart
from apps.rules.selectors import active_rules
from apps.ticket.inputs import PartSpecInput
from apps.ticket.locking import lock_ticket
from apps.ticket.models import MAX_SPEC_MINUTES, REFUSED_BY_GUARD, FlagColor, Ticket, TicketAction, TicketPartSpec
from apps.ticket.outcome import TicketOutcome

METRIC_FIELDS = ["total_duration", "flag_minutes", "flag_color", "xp_amount", "is_manual", "updated_at"]


def validate_part_specs(specs: Sequence[PartSpecInput], *, inventory_item_id: int) -> None:
    seen: set[int] = set()
    for index, spec in enumerate(specs):
        if spec.inventory_item_part_id in seen:
            raise DomainError(ErrorCode.VALIDATION_ERROR, f"part_specs[{index}]: part listed twice")
        seen.add(spec.inventory_item_part_id)
        if spec.color not in FlagColor.values:
            raise DomainError(ErrorCode.VALIDATION_ERROR, f"part_specs[{index}].color: unknown color")
        if not 0 <= spec.minutes <= MAX_SPEC_MINUTES:
            raise DomainError(ErrorCode.VALIDATION_ERROR, f"part_specs[{index}].minutes: out of range")
    owned = set(
        InventoryItemPart.objects.filter(inventory_item_id=inventory_item_id, pk__in=seen).values_list("pk", flat=True)
    )
    foreign = sorted(seen - owned)
    if foreign:
        raise DomainError(
            ErrorCode.INVALID_PART, f"parts {foreign} do not belong to inventory item {inventory_item_id}"
        )


def write_part_specs(ticket: Ticket, specs: Sequence[PartSpecInput], *, at: datetime) -> list[TicketPartSpec]:
    """Replace the ticket's active specs (soft-deleting the old ones) and re-derive its metrics."""
    TicketPartSpec.objects.alive().filter(ticket=ticket).update(deleted_at=at)
    with refusing_on_violation(REFUSED_BY_GUARD):
        rows = TicketPartSpec.objects.bulk_create(
            TicketPartSpec(
                ticket=ticket,
                inventory_item_id=ticket.inventory_item_id,
                inventory_item_part_id=spec.inventory_item_part_id,
                color=spec.color,
                minutes=spec.minutes,
                comment=spec.comment,
                created_at=at,
            )
            for spec in specs
        )
    ticket.apply_auto_metrics([spec.minutes for spec in specs], xp_rules=active_rules().config.ticket_xp)
    return rows


def active_spec_minutes(ticket_id: int) -> list[int]:
    return list(TicketPartSpec.objects.alive().filter(ticket_id=ticket_id).values_list("minutes", flat=True))


@transaction.atomic
def set_ticket_part_specs(*, ticket_id: int, part_specs: Sequence[PartSpecInput], actor, at: datetime) -> TicketOutcome:
    ticket = lock_ticket(ticket_id)
    validate_part_specs(part_specs, inventory_item_id=ticket.inventory_item_id)
    ticket.record_change(
        TicketAction.PART_SPECS_CHANGED, actor=actor, at=at, metadata={"part_spec_count": len(part_specs)}
    )
    write_part_specs(ticket, part_specs, at=at)
    ticket.save_with_history(update_fields=[*METRIC_FIELDS, "status"])
    return TicketOutcome(ticket)


@transaction.atomic
def set_manual_metrics(*, ticket_id: int, flag_color: str, xp_amount: int, actor, at: datetime) -> TicketOutcome:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.apply_manual_metrics(flag_color=flag_color, xp_amount=xp_amount)
    ticket.record_change(
        TicketAction.MANUAL_METRICS_SET,
        actor=actor,
        at=at,
        metadata={"flag_color": flag_color, "xp_amount": xp_amount},
    )
    ticket.save_with_history(update_fields=METRIC_FIELDS)
    return TicketOutcome(ticket)


@transaction.atomic
def clear_manual_metrics(*, ticket_id: int, actor, at: datetime) -> TicketOutcome:
    ticket = lock_ticket(ticket_id, with_part_specs=True)
    ticket.record_change(TicketAction.MANUAL_METRICS_CLEARED, actor=actor, at=at)
    ticket.is_manual = False
    ticket.apply_auto_metrics(active_spec_minutes(ticket.pk), xp_rules=active_rules().config.ticket_xp)
    ticket.save_with_history(update_fields=METRIC_FIELDS)
    return TicketOutcome(ticket)
