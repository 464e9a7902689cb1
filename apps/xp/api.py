from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema

from apps.accounts.api import user_or_404
from apps.common.api import ListQuery, paginate
from apps.common.time import isoformat_utc
from apps.xp.models import XpEntry, XpKind
from apps.xp.services import xp_total

router = Router(tags=["technicians"])


class XpEntryOut(Schema):
    id: int
    kind: Literal[tuple(XpKind.values)]
    amount: int
    reference: str
    ticket_id: int | None
    created_at: datetime


class XpOut(Schema):
    technician_id: int
    total: int
    entries: list[XpEntryOut]
    next_cursor: str | None


def xp_entry_data(entry: XpEntry) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": entry.amount,
        "reference": entry.reference,
        "ticket_id": entry.ticket_id,
        "created_at": isoformat_utc(entry.created_at),
    }


@router.get(
    "/{int:technician_id}/xp",
    response=XpOut,
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
