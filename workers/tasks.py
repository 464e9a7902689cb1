"""Celery entry points, discovered by `celery -A config`."""

from workers.commands import process_lane, sweep_stale_commands

__all__ = ["process_lane", "sweep_stale_commands"]
