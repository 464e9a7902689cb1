"""The one family of expected refusals. Never retried; recorded on the Command; mapped to problem details."""

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_TRANSITION = "invalid_transition"
    REVIEW_REQUIRED = "review_required"
    NOT_ASSIGNED_TECHNICIAN = "not_assigned_technician"
    ACTIVE_TICKET_EXISTS = "active_ticket_exists"
    TECHNICIAN_BUSY = "technician_busy"
    NO_OPEN_SESSION = "no_open_session"
    SESSION_NOT_STOPPED = "session_not_stopped"
    PAUSE_BUDGET_EXHAUSTED = "pause_budget_exhausted"
    INVALID_PART = "invalid_part"
    VALIDATION_ERROR = "validation_error"


class DomainError(Exception):
    def __init__(self, code: ErrorCode | str, message: str):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def __repr__(self) -> str:
        return f"DomainError({self.code.value!r}, {self.message!r})"
