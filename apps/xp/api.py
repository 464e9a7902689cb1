from datetime import datetime
from typing import Literal

from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from apps.accounts.api import user_or_404
from apps.common.api import ListQuery, paginate
from apps.common.time import isoformat_utc
from apps.xp.models import XpEntry, XpKind
from apps.xp.services import xp_total

router = Router(tags=["technicians"])


class XpEntryOut(Schema):
    model_config = ConfigDict(title="XpEntry")
    id: int
    kind: Literal[tuple(XpKind.values)]
    amount: int
    reference: str
    ticket_id: int | None
    created_at: datetime
    reason: str | None = Field(None, description="why an admin adjusted the XP: present on `manual_adjustment` only")


class XpOut(Schema):
    model_config = ConfigDict(title="TechnicianXp")
    technician_id: int
    total: int
    entries: list[XpEntryOut]
    next_cursor: str | None


def xp_entry_data(entry: XpEntry) -> dict:
    data = {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": entry.amount,
        "reference": entry.reference,
        "ticket_id": entry.ticket_id,
        "created_at": isoformat_utc(entry.created_at),
    }
    if entry.kind == XpKind.MANUAL_ADJUSTMENT:
        data["reason"] = entry.reason
    return data


@router.get(
    "/{int:technician_id}/xp",
    response=XpOut,
    exclude_unset=True,  # `reason` appears on the entries that have one, not as null on every other
    operation_id="getTechnicianXp",
    summary="A user's XP total and ledger, newest first",
    description="`total` covers every entry; `entries` is one page of them (`limit`, `cursor`), newest first.",
)
def technician_xp(request, technician_id: int, query: Query[ListQuery]):
    user_or_404(technician_id)
    entries = XpEntry.objects.filter(user_id=technician_id)
    page = paginate(entries, query=query, instant="created_at", descending=True, render=xp_entry_data)
    return {
        "technician_id": technician_id,
        "total": xp_total(technician_id),
        "entries": page["items"],
        "next_cursor": page["next_cursor"],
    }
