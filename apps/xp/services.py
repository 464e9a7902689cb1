from datetime import datetime

from django.db import connection
from django.db.models import Sum

from apps.xp.models import XpEntry, XpKind

# One statement per award: written, or left alone because `reference` already has its entry (a QC pass awards up
# to three times, so a read-then-insert would triple its round trips).
_INSERT_ONCE = f"""
    INSERT INTO {XpEntry._meta.db_table} (user_id, kind, amount, reference, ticket_id, created_at)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (reference) DO NOTHING
    RETURNING id
"""


def award_xp(*, user, kind: XpKind, amount: int, reference: str, ticket, at: datetime) -> bool:
    """Append an award once per reference. True if this call wrote it; a replay (same reference) writes nothing.

    Zero-amount awards are not written: the ledger holds only what changes a total.
    """
    if amount <= 0:
        return False
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ONCE, [user.pk, str(kind), amount, reference, getattr(ticket, "pk", None), at])
        return cursor.fetchone() is not None


def xp_total(user_id: int) -> int:
    return XpEntry.objects.filter(user_id=user_id).aggregate(total=Sum("amount"))["total"] or 0
