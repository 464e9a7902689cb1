"""JSON-lines log formatter; context such as command_id and ticket_id rides on `extra=`."""

import json
import logging
from datetime import UTC, datetime

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_task_context())
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _task_context() -> dict:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a hard dependency
        return {}
    task = current_task
    if task and task.request and task.request.id:
        return {"task_id": task.request.id, "task_name": task.name}
    return {}
