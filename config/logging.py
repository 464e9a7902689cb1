"""JSON-lines logging: the formatter (context such as command_id and ticket_id rides on `extra=`; the request id of
the work in hand, apps.common.request_id, is added to every record), the filter that keeps the every-few-seconds
sweeps out of an idle stack's log, and the hook that makes an exception ending a Celery process one record."""

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime

from apps.common.request_id import current_request_id

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Set on an exception once a record carried its traceback, so the excepthook does not print it a second time.
_TRACEBACK_LOGGED = "_ticketflow_traceback_logged"
# Celery's loggers that write a line per sweep run: beat's "Sending due task", the worker's "received" and
# "succeeded" (a failure is logged at ERROR and always kept).
_TASK_LIFECYCLE_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_task_context())
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
            _mark_traceback_logged(record.exc_info[1])
        return json.dumps(entry, default=str)


class QuietSweeps(logging.Filter):
    """Drops Celery's per-run lines about the sweeps (below WARNING) unless the ticketflow loggers are at DEBUG."""

    def __init__(self):
        super().__init__()
        from workers.sweeps import SWEEPS  # here, not at import: LOGGING is configured before the apps load

        self.sweeps = SWEEPS

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or record.name not in _TASK_LIFECYCLE_LOGGERS:
            return True
        if logging.getLogger("ticketflow").isEnabledFor(logging.DEBUG):
            return True
        message = record.getMessage()
        return not any(name in message for name in self.sweeps)


def log_uncaught_exceptions() -> None:
    """Make an exception that ends the process one JSON record with `exc` (CRITICAL, logger `ticketflow`), not a
    multi-line traceback on stderr. One whose traceback a record already carried (beat logs its own before
    re-raising) is recorded once more without it, so the log still says the process exits."""

    def excepthook(exc_type, exc, traceback):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, traceback)
            return
        logger = logging.getLogger("ticketflow")
        if getattr(exc, _TRACEBACK_LOGGED, False):
            logger.critical("uncaught exception, the process exits", extra={"error": repr(exc)})
        else:
            logger.critical("uncaught exception, the process exits", exc_info=(exc_type, exc, traceback))

    sys.excepthook = excepthook


def _mark_traceback_logged(exc: BaseException | None) -> None:
    with contextlib.suppress(AttributeError, TypeError):  # None, or an exception type without a __dict__
        setattr(exc, _TRACEBACK_LOGGED, True)


def _task_context() -> dict:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a hard dependency
        return {}
    task = current_task
    if task and task.request and task.request.id:
        return {"task_id": task.request.id, "task_name": task.name}
    return {}
