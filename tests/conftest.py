import pytest

from apps.rules import selectors as rules_selectors


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    """Each test sees the rules in its own database state, never a version cached by an earlier test."""
    rules_selectors.forget_cached_rules()
    yield
    rules_selectors.forget_cached_rules()


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
