"""The sweeps beat runs every few seconds. Nearly always they find nothing to do, so they are declared quiet: no task
events (Flower's task list would gain one every second and bury the commands) and no per-run log lines from Celery
(config/logging.py); the sweeps themselves log only when they did something."""

from apps.common.tasks import TaskName

SWEEPS = frozenset(
    {
        TaskName.SWEEP_DUE_AUTO_RESUMES,
        TaskName.SWEEP_STALE_COMMANDS,
        TaskName.SWEEP_MISSED_REDERIVATIONS,
        TaskName.SWEEP_WEBHOOKS,
    }
)

# shared_task options of every sweep: no result kept, no task events.
SWEEP_TASK_OPTIONS = {"ignore_result": True, "send_events": False}
