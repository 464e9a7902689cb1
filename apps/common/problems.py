"""RFC 9457 problem details raised at the HTTP boundary and rendered by config/api.py."""

from typing import Any

from apps.common.errors import DomainError, ErrorCode

STATUS_BY_DOMAIN_CODE = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.VALIDATION_ERROR: 422,
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def from_domain(cls, error: DomainError, *, default_status: int = 409) -> "Problem":
        return cls(STATUS_BY_DOMAIN_CODE.get(error.code, default_status), error.code.value, error.message)

    def body(self) -> dict[str, Any]:
        body = {
            "type": f"/problems/{self.code}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def validation_problem(errors: list[dict[str, Any]], detail: str = "the request is not valid") -> Problem:
    return Problem(422, "validation_error", detail, errors=errors)
