"""Assertions shared across the tiers: a domain refusal with its code, and RFC 9457 problem responses."""

from contextlib import contextmanager

import pytest

from apps.common.errors import DomainError, ErrorCode
from tests.support.contract import PROBLEM_JSON


@contextmanager
def refused(code: ErrorCode):
    """The block must raise DomainError with exactly `code`."""
    with pytest.raises(DomainError) as caught:
        yield caught
    assert caught.value.code == code, f"expected {code}, got {caught.value!r}"


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with the contract's fields; returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"/problems/{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def assert_validation_problem(response, *locs: list) -> dict:
    """A 422 validation_error whose `errors` are well-formed and include each of `locs` (when given)."""
    body = assert_problem(response, 422, "validation_error")
    errors = body["errors"]
    assert isinstance(errors, list) and errors
    for error in errors:
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str) and error["msg"]
    reported = [error["loc"] for error in errors]
    for loc in locs:
        assert loc in reported, reported
    return body
