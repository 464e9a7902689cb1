import time

import pytest

from apps.commands.models import Command
from tests.support.api import LiveClient
from tests.support.factories import (
    AdminFactory,
    InspectorFactory,
    MasterFactory,
    TechnicianFactory,
    UserFactory,
)
from tests.support.processes import Worker, purge_test_queues


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
    return {role: LiveClient.of(live_server.url, user) for role, user in people.items()}
