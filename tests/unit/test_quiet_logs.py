"""Quiet by default: the every-few-seconds sweeps send no task events and Celery's per-run lines about them are
dropped below WARNING (unless LOG_LEVEL=DEBUG); every other task's lines, and any failure, still show."""

import logging

import pytest
from celery import current_app
from celery.app.trace import LOG_FAILURE, LOG_RECEIVED, LOG_SUCCESS

from apps.common.tasks import TaskName
from config.logging import JsonFormatter, QuietSweeps
from workers.schedule import periodic_jobs
from workers.sweeps import SWEEPS


def test_every_frequent_periodic_job_is_a_sweep_that_sends_no_task_events():
    import workers.tasks  # noqa: F401 -- registers the tasks, as the worker's autodiscovery does

    frequent = {job.task for job in periodic_jobs() if job.every_seconds < 60}

    assert frequent == SWEEPS
    for name in SWEEPS:
        assert current_app.tasks[name].send_events is False, name
    for name in (TaskName.PROCESS_LANE, TaskName.AUTO_RESUME, TaskName.PRUNE_IDEMPOTENCY_KEYS):
        assert current_app.tasks[name].send_events is True, name


def test_the_console_handler_carries_the_filter():
    """LOGGING's one JSON handler, shared by Celery's loggers and ours (pytest may add capturing handlers)."""
    (console,) = [h for h in logging.getLogger("celery").handlers if isinstance(h.formatter, JsonFormatter)]
    assert any(isinstance(f, QuietSweeps) for f in console.filters)
    assert console in logging.getLogger("ticketflow").handlers


def record(logger: str, level: int, message: str, *args) -> logging.LogRecord:
    return logging.getLogger(logger).makeRecord(logger, level, __file__, 1, message, args, None)


def lifecycle_records(task_name: str) -> list[logging.LogRecord]:
    """The lines Celery writes for one run of a task, as beat and the worker write them."""
    context = {"id": "7f1c", "name": task_name, "runtime": 0.002, "return_value": 0}
    return [
        record(
            "celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)", f"ticketflow: {task_name}", task_name
        ),
        record("celery.worker.strategy", logging.INFO, LOG_RECEIVED, context),
        record("celery.app.trace", logging.INFO, LOG_SUCCESS, context),
    ]


@pytest.fixture
def ticketflow_level():
    logger = logging.getLogger("ticketflow")
    level = logger.level
    yield logger.setLevel
    logger.setLevel(level)


@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_a_sweeps_run_writes_no_line(sweep, ticketflow_level):
    ticketflow_level(logging.INFO)
    for line in lifecycle_records(sweep):
        assert not QuietSweeps().filter(line), line.getMessage()


def test_other_tasks_failures_and_debug_level_keep_their_lines(ticketflow_level):
    ticketflow_level(logging.INFO)
    quiet = QuietSweeps()
    for line in lifecycle_records(TaskName.PROCESS_LANE):
        assert quiet.filter(line), line.getMessage()
    failure = {"id": "7f1c", "name": TaskName.SWEEP_STALE_COMMANDS, "exc": "OperationalError()", "description": ""}
    assert quiet.filter(record("celery.app.trace", logging.ERROR, LOG_FAILURE, failure))

    ticketflow_level(logging.DEBUG)
    for line in lifecycle_records(TaskName.SWEEP_DUE_AUTO_RESUMES):
        assert quiet.filter(line), line.getMessage()
