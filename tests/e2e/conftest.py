import time

import httpx
import pytest

from apps.accounts.models import ApiToken
from apps.commands.models import Command
from tests.factories import (
    AdminFactory,
    InspectorFactory,
    MasterFactory,
    TechnicianFactory,
    UserFactory,
)
from tests.processes import Worker, purge_test_queues

FINAL = {"succeeded", "rejected", "failed"}


@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker):
    """One real `celery -A config worker -c 4` for the e2e session, on the test database and this run's queues."""
    purge_test_queues()
    process = Worker().start()
    yield process
    process.stop()


@pytest.fixture
def worker(_session_worker):
    """The session's worker, alive at the start of every test (a fault test that killed it may have failed).

    Afterwards it is left idle: the test's pending commands are drained (or given up on) and this run's queues
    emptied, so the flush that ends a transactional test never races the worker's transactions.
    """
    if not _session_worker.running:
        _session_worker.start()
    yield _session_worker
    deadline = time.monotonic() + 60
    while Command.objects.pending().exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    purge_test_queues()
    time.sleep(0.3)  # a task taken just before the purge finishes its one short transaction


class Client:
    """An upstream system talking HTTP to the live server."""

    def __init__(self, base_url: str, token: str):
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=40)

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
            if command["status"] in FINAL:
                return command
            time.sleep(0.05)
        raise AssertionError(f"command {command_id} still pending after {timeout}s: {command}")

    def get(self, path: str, **params) -> dict:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def people(transactional_db):
    return {
        "admin": AdminFactory(username="e2e-admin"),
        "master": MasterFactory(username="e2e-master"),
        "tech": TechnicianFactory(username="e2e-tech"),
        "qc": InspectorFactory(username="e2e-qc"),
        "service": UserFactory(username="e2e-upstream", is_service=True),
    }


@pytest.fixture
def clients(live_server, people):
    return {role: Client(live_server.url, ApiToken.issue(user)[1]) for role, user in people.items()}
