from pathlib import Path

import pytest
from celery.signals import before_task_publish

from apps.rules import selectors as rules_selectors
from apps.webhooks import kick
from tests.support.receiver import Receiver

TESTS = Path(__file__).resolve().parent
# What `make test` runs one at a time, after the rest has run on two pytest-xdist workers: the tests that start
# workers, servers and browsers and time what they do (they want the machine to themselves), and the API fuzzing
# (on an xdist worker schemathesis 4 runs only its first operation's examples).
SERIAL_DIRECTORIES = {"e2e", "fault", "browser"}
SERIAL_MARKS = ("e2e", "browser")
SERIAL_MODULES = {TESTS / "integration" / "test_fuzz_api.py"}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marks
def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(item.path)
        if (
            path.relative_to(TESTS).parts[0] in SERIAL_DIRECTORIES
            or path in SERIAL_MODULES
            or any(item.get_closest_marker(mark) for mark in SERIAL_MARKS)
        ):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    """Each test sees the rules in its own database state, never a version cached by an earlier test."""
    rules_selectors.forget_cached_rules()
    yield
    rules_selectors.forget_cached_rules()


@pytest.fixture(autouse=True)
def _fresh_active_webhooks_cache():
    """Each test asks its own database whether an active webhook exists: a process remembers the answer for
    ACTIVE_RECHECK_SECONDS, and an earlier test's webhook, rolled back or flushed without a save signal, would
    have this test's commits kick a dispatcher."""
    kick.active_webhooks.forget()
    yield
    kick.active_webhooks.forget()


@pytest.fixture(scope="session", autouse=True)
def _release_test_database(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions that child processes or server threads left open."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )


@pytest.fixture
def receiver():
    """A webhook receiver on loopback (tests/support/receiver.py), answering 200 until the test says otherwise."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def published():
    """The names of the tasks this process publishes during the test."""
    names: list[str] = []

    def count(sender=None, **_kwargs):
        names.append(sender)

    before_task_publish.connect(count, weak=False)
    yield names
    before_task_publish.disconnect(count)


@pytest.fixture
def loopback_receivers_allowed(settings):
    """Webhooks may aim at the tests' receivers on 127.0.0.1 (refused in production: WEBHOOK_ALLOW_PRIVATE_TARGETS)."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
