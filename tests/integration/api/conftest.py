"""Fixtures for the HTTP contract tests.

They run with the `db` fixture: each test is one transaction that is rolled back, so on_commit callbacks never
fire and nothing reaches a broker. These tests check what the API accepts and answers, not what a worker does.
The users (admin, master, technician, inspector) and the `shop` come from tests/integration/conftest.py.
"""

import pytest

from tests.factories import TechnicianFactory, UserFactory
from tests.integration.api.support import ApiClient


@pytest.fixture
def api(client, db):
    return ApiClient(client)


@pytest.fixture
def nobody(db):
    """An authenticated user without any role."""
    return UserFactory(username="nobody")


@pytest.fixture
def service(db):
    """An upstream system: no roles of its own, may act on behalf of others (actor_id)."""
    return UserFactory(username="upstream", is_service=True)


@pytest.fixture
def other_technician(db):
    return TechnicianFactory()
