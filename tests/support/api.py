"""Clients of the HTTP API: in-process through Django's test client, or over HTTP to a live server."""

import json
import time
from typing import Any

import httpx
from django.test.client import FakePayload

from apps.accounts.models import ApiToken, User
from tests.support.contract import FINAL_STATUSES


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


class LiveClient:
    """An upstream system talking HTTP to a live server with one user's token."""

    def __init__(self, base_url: str, token: str):
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=40)

    @classmethod
    def of(cls, base_url: str, user: User) -> "LiveClient":
        """A client with a new token of `user`."""
        return cls(base_url, ApiToken.issue(user)[1])

    def command(self, body: dict, *, key: str | None = None, wait: int | None = None) -> httpx.Response:
        headers = {}
        if key is not None:
            headers["Idempotency-Key"] = key
        if wait is not None:
            headers["Prefer"] = f"wait={wait}"
        return self.http.post("/api/v1/commands", json=body, headers=headers)

    def run(self, body: dict, *, timeout: float = 20) -> dict:
        """Submit and wait for the final outcome."""
        response = self.command(body)
        assert response.status_code in (200, 202), response.text
        return self.wait_final(response.json()["id"], timeout=timeout)

    def wait_final(self, command_id: str, *, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            command = self.get(f"/api/v1/commands/{command_id}")
            if command["status"] in FINAL_STATUSES:
                return command
            time.sleep(0.05)
        raise AssertionError(f"command {command_id} still pending after {timeout}s: {command}")

    def get(self, path: str, **params) -> dict:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()
