"""Helpers for the HTTP contract tests: an authenticated in-process client and problem-details assertions."""

import json
from typing import Any

from django.test.client import FakePayload

from apps.accounts.models import ApiToken, User

PROBLEM_JSON = "application/problem+json"


class ApiClient:
    """Django's test client, speaking JSON with a bearer token per user (tokens issued once per user)."""

    def __init__(self, client):
        self.client = client
        self._tokens: dict[int, str] = {}

    def token(self, user: User) -> str:
        if user.pk not in self._tokens:
            self._tokens[user.pk] = ApiToken.issue(user)[1]
        return self._tokens[user.pk]

    def auth(self, user: User | None) -> dict[str, str]:
        return {} if user is None else {"HTTP_AUTHORIZATION": f"Bearer {self.token(user)}"}

    def get(self, path: str, user: User | None = None, **extra):
        return self.client.get(path, **self.auth(user), **extra)

    def send(self, method: str, path: str, body: Any, user: User | None = None, **extra):
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        content_type = extra.pop("content_type", "application/json")
        return self.client.generic(method, path, data=data, content_type=content_type, **self.auth(user), **extra)

    def post(self, path: str, body: Any, user: User | None = None, **extra):
        return self.send("POST", path, body, user, **extra)

    def put(self, path: str, body: Any, user: User | None = None, **extra):
        return self.send("PUT", path, body, user, **extra)

    def command(self, user: User, body: Any, **extra):
        return self.post("/api/v1/commands", body, user, **extra)

    def raw_post(self, path: str, data: bytes, user: User, content_type: str | None = None):
        """A POST built by hand: the test client drops Content-Type on an empty body and always sets one otherwise."""
        environ = {
            "PATH_INFO": path,
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": FakePayload(data),
            **self.auth(user),
        }
        if content_type is not None:
            environ["CONTENT_TYPE"] = content_type
        return self.client.request(**environ)


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
