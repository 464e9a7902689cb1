"""Forgetting events older than EVENT_RETENTION_DAYS, a batch per transaction.

The log refuses DELETE (migration 0002) except for rows recorded before the instant a transaction has named in
`ticketflow.prune_events_before`, a setting local to that transaction. Only `prune_expired_events` names it: an
ordinary DELETE, or one in another transaction, is still refused.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from apps.common import time as clock

PRUNE_SETTING = "ticketflow.prune_events_before"

_DELETE_BATCH = """
DELETE FROM event
WHERE position IN (
    SELECT position FROM event WHERE recorded_at < %(before)s ORDER BY recorded_at LIMIT %(batch)s
)
"""


def retention_cutoff(*, now: datetime) -> datetime | None:
    """Events recorded before this instant are due to go; None when they are kept forever (0 days)."""
    days = settings.EVENT_RETENTION_DAYS
    return None if days <= 0 else now - timedelta(days=days)


def prune_expired_events(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete events past retention in batches of `batch_size`. Returns how many went."""
    cutoff = retention_cutoff(now=now or clock.database_now())
    if cutoff is None:
        return 0
    pruned = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_SETTING, cutoff.isoformat()])
            cursor.execute(_DELETE_BATCH, {"before": cutoff, "batch": batch_size})
            deleted = cursor.rowcount
            cursor.execute("SELECT set_config(%s, '', true)", [PRUNE_SETTING])  # nothing else in it may delete
        pruned += deleted
        if deleted < batch_size:
            return pruned
