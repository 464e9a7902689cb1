import uuid
from datetime import datetime

from django.db import connection
from django.db.models import Sum

from apps.accounts.models import Role, User
from apps.common.errors import DomainError, ErrorCode
from apps.xp.models import XpEntry, XpKind

# One statement per award: written, or left alone because `reference` already has its entry (a QC pass awards up
# to three times, so a read-then-insert would triple its round trips).
_INSERT_ONCE = f"""
    INSERT INTO {XpEntry._meta.db_table} (user_id, kind, amount, reference, ticket_id, created_at)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (reference) DO NOTHING
    RETURNING id, created_at
"""


def award_xp(*, user, kind: XpKind, amount: int, reference: str, ticket, at: datetime) -> bool:
    """Append an award once per reference, with its `xp.awarded` event. True if this call wrote it; a replay (same
    reference) writes nothing.

    Zero-amount awards are not written: the ledger holds only what changes a total.
    """
    if amount <= 0:
        return False
    ticket_id = getattr(ticket, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ONCE, [user.pk, str(kind), amount, reference, ticket_id, at])
        written = cursor.fetchone()
    if written is None:
        return False
    entry_id, created_at = written
    entry = XpEntry(
        pk=entry_id,
        user_id=user.pk,
        kind=kind,
        amount=amount,
        reference=reference,
        ticket_id=ticket_id,
        created_at=created_at,
    )
    _record_awarded(entry)
    return True


def adjust_xp(*, technician_id: int, amount: int, reason: str, at: datetime) -> XpEntry:
    """Append an admin's manual adjustment (kind manual_adjustment, no ticket) to an active technician's ledger,
    with its `xp.awarded` event, in the caller's transaction. Its reference is the command applying it, so one
    command adjusts once. A user who is not an active technician: `not_found` (API.md)."""
    technician = User.objects.filter(pk=technician_id, is_active=True).first()
    if technician is None or not technician.has_role(Role.TECHNICIAN):
        raise DomainError(ErrorCode.NOT_FOUND, f"user {technician_id} is not an active technician")
    from apps.events.recording import command_in_flight

    command = command_in_flight()
    entry = XpEntry.objects.create(
        user=technician,
        kind=XpKind.MANUAL_ADJUSTMENT,
        amount=amount,
        reason=reason,
        reference=f"manual_adjustment:{command.id if command else uuid.uuid4()}",
        ticket=None,
        created_at=at,
    )
    _record_awarded(entry)
    return entry


def _record_awarded(entry: XpEntry) -> None:
    from apps.events import payloads, recording  # payloads import the ledger's API shape, which imports us

    recording.record_event(payloads.xp_awarded(entry))


def xp_total(user_id: int) -> int:
    return XpEntry.objects.filter(user_id=user_id).aggregate(total=Sum("amount"))["total"] or 0
