"""The request id of the work in hand: set for an HTTP request (apps.common.middleware) and while a worker applies a
command that request stored (apps.commands.processing); config/logging.py writes it into every log record.

Plain Python (no Django import): the logging configuration reads it before the apps load.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "X-Request-ID"
# API.md: the caller's id is kept if it is 1..128 visible ASCII characters (%x21-7E); anything else gets a new one.
_ACCEPTABLE = re.compile(r"[\x21-\x7e]{1,128}")

_current: ContextVar[str | None] = ContextVar("ticketflow_request_id", default=None)


def accepted_or_new(sent: str | None) -> str:
    """The caller's id if it is acceptable, else a new one (uuid4 hex)."""
    if sent is not None and _ACCEPTABLE.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def set_request_id(request_id: str | None) -> None:
    """Bind `request_id` to this context until replaced or cleared (an HTTP request's whole life, see middleware)."""
    _current.set(request_id)


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Inside the block, log records carry `request_id` (nothing when it is None)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)
