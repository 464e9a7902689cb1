"""Celery entry points, discovered by `celery -A config`."""

from workers.commands import process_lane, prune_idempotency_keys, sweep_stale_commands
from workers.events import prune_events
from workers.rules import recompute_pause_deadlines, recompute_ticket_metrics, sweep_missed_rederivations
from workers.timers import auto_resume, sweep_due_auto_resumes

__all__ = [
    "auto_resume",
    "process_lane",
    "prune_events",
    "prune_idempotency_keys",
    "recompute_pause_deadlines",
    "recompute_ticket_metrics",
    "sweep_due_auto_resumes",
    "sweep_missed_rederivations",
    "sweep_stale_commands",
]
