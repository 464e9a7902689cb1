from datetime import datetime

from django.db.models import Sum

from apps.xp.models import XpEntry, XpKind


def award_xp(*, user, kind: XpKind, amount: int, reference: str, ticket, at: datetime) -> XpEntry | None:
    """Append an award once per reference; a second call with the same reference returns the first entry.

    Zero-amount awards are not written: the ledger holds only what changes a total.
    """
    if amount <= 0:
        return None
    entry, _ = XpEntry.objects.get_or_create(
        reference=reference,
        defaults={"user": user, "kind": kind, "amount": amount, "ticket": ticket, "created_at": at},
    )
    return entry


def xp_total(user_id: int) -> int:
    return XpEntry.objects.filter(user_id=user_id).aggregate(total=Sum("amount"))["total"] or 0
