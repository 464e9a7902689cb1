"""What a rules change re-derives: the metrics of every auto-metrics ticket and the deadline of every paused session.

Both run in the background (workers/rules.py), beside live commands, in short transactions.
"""

from datetime import datetime

from django.db import connection, transaction

from apps.events.payloads import metrics_recomputed_sql
from apps.events.recording import events_inserted
from apps.rules.config import WorkSessionConfig
from apps.rules.selectors import active_rules
from apps.ticket.followups import schedule_auto_resume
from apps.ticket.models import Ticket, WorkSession
from apps.ticket.selectors import deadline_after_rules_change


def recompute_pause_deadlines(
    *, changed_at: datetime, config: WorkSessionConfig | None = None, batch_size: int = 500
) -> int:
    """Re-derive `auto_resume_at` of every paused session under `config` (default: the active rules), and
    reschedule it.

    A new deadline is never earlier than `changed_at`: a rules change does not penalise a pause retroactively; if
    the new budget ran out before the change, the pause runs on what the change's local day has left
    (`deadline_after_rules_change`). Nor does it revive one: a pause whose deadline came by `changed_at` keeps it
    and is resumed there.
    One short transaction per session, locking only that session row. Returns how many deadlines moved.
    """
    config = config or active_rules().config.work_session
    moved, after = 0, 0
    while True:
        batch = list(
            WorkSession.domain.paused().filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return moved
        for session_id in batch:
            moved += _recompute_deadline(session_id, config=config, changed_at=changed_at)
        after = batch[-1]


@transaction.atomic
def _recompute_deadline(session_id: int, *, config: WorkSessionConfig, changed_at: datetime) -> bool:
    session = WorkSession.domain.paused().select_for_update().filter(pk=session_id).first()
    if session is None:
        return False  # resumed or stopped meanwhile
    if session.auto_resume_at <= changed_at:
        # Already due under the rules in force then; moving it would make accounting depend on job lateness.
        return False
    paused_at = session.history()[-1].event_at
    deadline = deadline_after_rules_change(
        technician_id=session.technician_id, paused_at=paused_at, changed_at=changed_at, config=config
    )
    if deadline == session.auto_resume_at:
        return False
    session.auto_resume_at = deadline
    session.save(update_fields=["auto_resume_at"])
    schedule_auto_resume(session)
    return True


# Every ticket of the batch a command could still change, locked in id order (the order a command never inverts:
# it holds one ticket). Waiting here for a command's transaction, then reading the specs in a later statement, sees
# what that command committed; a ticket it moved to `done` meanwhile drops out of the batch.
LOCK_BATCH_SQL = """
SELECT id FROM ticket
WHERE id > %(after)s AND id <= %(upto)s AND status <> 'done' AND deleted_at IS NULL
ORDER BY id
FOR NO KEY UPDATE
"""

# Runs after LOCK_BATCH_SQL in the same transaction, so it never waits on a row: a row UPDATE ... FROM waited for
# would be re-checked against the subquery's older specs (READ COMMITTED). Each ticket it moves gets its event in the
# same statement.
RECOMPUTE_BATCH_SQL = f"""
WITH moved AS (
UPDATE ticket AS t
SET total_duration = s.total,
    flag_minutes = s.total,
    flag_color = CASE WHEN s.total <= %(green_max)s THEN 'green'
                      WHEN s.total <= %(yellow_max)s THEN 'yellow'
                      ELSE 'red' END,
    xp_amount = CEIL(s.total::numeric / %(divisor)s)::integer,
    updated_at = %(at)s
FROM (
    SELECT ticket.id, COALESCE(SUM(spec.minutes), 0) AS total
    FROM ticket
    LEFT JOIN ticket_part_spec AS spec
        ON spec.ticket_id = ticket.id AND spec.deleted_at IS NULL
       AND spec.ticket_id > %(after)s AND spec.ticket_id <= %(upto)s
    WHERE ticket.id > %(after)s AND ticket.id <= %(upto)s
      AND ticket.status <> 'done' AND NOT ticket.is_manual AND ticket.deleted_at IS NULL
    GROUP BY ticket.id
) AS s
WHERE t.id = s.id
  AND t.id > %(after)s AND t.id <= %(upto)s
  AND t.status <> 'done' AND NOT t.is_manual AND t.deleted_at IS NULL
  AND (t.total_duration, t.flag_minutes, t.xp_amount, t.flag_color) IS DISTINCT FROM
      (s.total, s.total, CEIL(s.total::numeric / %(divisor)s)::integer,
       CASE WHEN s.total <= %(green_max)s THEN 'green' WHEN s.total <= %(yellow_max)s THEN 'yellow' ELSE 'red' END)
RETURNING t.*
)
{metrics_recomputed_sql("moved")}
"""


def recompute_auto_metrics(*, xp_rules, at: datetime, batch_size: int = 5000, progress=None) -> int:
    """Re-derive the metrics of every active, non-manual ticket under `xp_rules`, one id range per transaction.

    Set-based (one UPDATE per batch) and safe beside live commands: each batch first locks its not-done tickets in
    id order, waiting for any command holding one, then derives from the specs as committed; `done` and manual
    tickets are never written. Each ticket it moves gets a `ticket.metrics_recomputed` event, in the batch's statement.
    A command that ran under the old rules is corrected by the batch that follows it.
    Returns rows changed.
    """
    changed, after = 0, 0
    top = Ticket.domain.active_auto_metrics().order_by("-id").values_list("id", flat=True).first() or 0
    params = {
        "green_max": xp_rules.flag_green_max_minutes,
        "yellow_max": xp_rules.flag_yellow_max_minutes,
        "divisor": xp_rules.base_divisor,
        "at": at,
    }
    while after < top:
        batch = {**params, "after": after, "upto": min(after + batch_size, top)}
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(LOCK_BATCH_SQL, batch)
                cursor.execute(RECOMPUTE_BATCH_SQL, batch)
                moved = cursor.rowcount
            if moved:
                events_inserted()
            changed += moved
        after += batch_size
        if progress is not None:
            progress(min(after, top), top)
    return changed
