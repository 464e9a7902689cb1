from datetime import datetime
from typing import Literal

from ninja import Router, Schema

from apps.accounts.api import user_or_404
from apps.common.time import isoformat_utc
from apps.xp.models import XpEntry
from apps.xp.services import xp_total

router = Router(tags=["technicians"])


class XpEntryOut(Schema):
    id: int
    kind: Literal["ticket_base_xp", "ticket_first_pass_bonus", "qc_status_update"]
    amount: int
    reference: str
    ticket_id: int | None
    created_at: datetime


class XpOut(Schema):
    technician_id: int
    total: int
    entries: list[XpEntryOut]


@router.get("/{int:technician_id}/xp", response=XpOut, summary="A user's XP ledger and total")
def technician_xp(request, technician_id: int):
    user_or_404(technician_id)
    entries = XpEntry.objects.filter(user_id=technician_id).order_by("created_at", "id")
    return {
        "technician_id": technician_id,
        "total": xp_total(technician_id),
        "entries": [
            {
                "id": e.pk,
                "kind": e.kind,
                "amount": e.amount,
                "reference": e.reference,
                "ticket_id": e.ticket_id,
                "created_at": isoformat_utc(e.created_at),
            }
            for e in entries
        ],
    }
