import pytest

from apps.rules import selectors as rules_selectors


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    """Each test sees the rules in its own database state, never a version cached by an earlier test."""
    rules_selectors.forget_cached_rules()
    yield
    rules_selectors.forget_cached_rules()
