"""The active rules, cached per process by version.

The active version's row id lives in the cache (Redis) and is refreshed on every change, so reading the rules
costs one cache GET and no database query until the rules change; then one query loads the new version.
Row ids, unlike version numbers, are never reused, even by a test database that is emptied and refilled.
"""

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from apps.rules.config import RulesConfig
from apps.rules.models import RulesVersion

VERSION_CACHE_KEY = "rules:active_row"
_loaded: dict[int, "ActiveRules"] = {}


@dataclass(frozen=True)
class ActiveRules:
    version: int
    config: RulesConfig
    created_at: datetime


def active_rules() -> ActiveRules:
    row_id = _cached_row_id()
    if row_id is not None and row_id in _loaded:
        return _loaded[row_id]
    row = RulesVersion.objects.order_by("-version").first()
    if row is None:
        raise RulesVersion.DoesNotExist("no rules version; run migrations")
    rules = ActiveRules(version=row.version, config=RulesConfig.model_validate(row.config), created_at=row.created_at)
    _loaded.clear()
    _loaded[row.pk] = rules
    # add, not set: a reader that raced a change must not overwrite the newer id the change published.
    with suppress(Exception):
        cache.add(VERSION_CACHE_KEY, row.pk, timeout=None)
    return rules


def publish_active_version(row_id: int) -> None:
    """Called after a change commits. The cache is an optimisation; the database stays the truth."""
    with suppress(Exception):
        cache.set(VERSION_CACHE_KEY, row_id, timeout=None)


def _cached_row_id() -> int | None:
    try:
        return cache.get(VERSION_CACHE_KEY)
    except Exception:  # Redis away: read the database instead
        return None


def forget_cached_rules() -> None:
    """Drop the process cache and the published version (tests, and after restoring a backup)."""
    _loaded.clear()
    with suppress(Exception):
        cache.delete(VERSION_CACHE_KEY)
