import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Sum

from apps.accounts.models import Role, User
from apps.common.db import prepared_cursor
from apps.common.errors import DomainError, ErrorCode
from apps.xp.models import XpEntry, XpKind


@dataclass(frozen=True)
class Award:
    user_id: int
    kind: XpKind
    amount: int
    reference: str  # unique in the ledger: a replayed award writes nothing


def award_xp(*, user, kind: XpKind, amount: int, reference: str, ticket, at: datetime) -> bool:
    """Append an award once per reference, with its `xp.awarded` event. True if this call wrote it; a replay (same
    reference) writes nothing. Zero-amount awards are not written: the ledger holds only what changes a total."""
    return bool(
        award_xp_once_each([Award(user.pk, kind, amount, reference)], ticket_id=getattr(ticket, "pk", None), at=at)
    )


def award_xp_once_each(awards: Sequence[Award], *, ticket_id: int | None, at: datetime) -> list[XpEntry]:
    """Append each award not written before (by reference), in one INSERT, and their `xp.awarded` events in one
    more, in the order given (a QC pass awards up to three times). Returns the entries this call wrote."""
    awards = [award for award in awards if award.amount > 0]
    if not awards:
        return []
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(awards))
    params = [value for a in awards for value in (a.user_id, str(a.kind), a.amount, a.reference, ticket_id, at)]
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {XpEntry._meta.db_table} (user_id, kind, amount, reference, ticket_id, created_at) "
            f"VALUES {rows} ON CONFLICT (reference) DO NOTHING RETURNING id, reference, created_at",
            params,
        )
        written = {reference: (entry_id, created_at) for entry_id, reference, created_at in cursor.fetchall()}
    entries = [
        XpEntry(
            pk=written[a.reference][0],
            user_id=a.user_id,
            kind=a.kind,
            amount=a.amount,
            reference=a.reference,
            ticket_id=ticket_id,
            created_at=written[a.reference][1],
        )
        for a in awards
        if a.reference in written  # RETURNING's order is not promised: the events follow the awards' order
    ]
    _record_awarded(entries)
    return entries


@transaction.atomic
def adjust_xp(*, technician_id: int, amount: int, reason: str, at: datetime) -> XpEntry:
    """Append an admin's manual adjustment (kind manual_adjustment, no ticket) to an active technician's ledger,
    with its `xp.awarded` event, atomically (a savepoint inside a caller's transaction). Its reference is the
    command applying it, so one command adjusts once. A user who is not an active technician: `not_found`
    (API.md)."""
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
    _record_awarded([entry])
    return entry


def _record_awarded(entries: Sequence[XpEntry]) -> None:
    from apps.events import payloads, recording  # payloads import the ledger's API shape, which imports us

    recording.record_events(payloads.xp_awarded(entry) for entry in entries)


def xp_total(user_id: int) -> int:
    return XpEntry.objects.filter(user_id=user_id).aggregate(total=Sum("amount"))["total"] or 0
