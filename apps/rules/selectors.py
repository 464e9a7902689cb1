"""The active rules, cached per process by version.

The current version number lives in the cache (Redis) and is refreshed on every change, so reading the rules
costs one cache GET and no database query until the rules change; then one query loads the new version.
"""

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from apps.rules.config import RulesConfig
from apps.rules.models import RulesVersion

VERSION_CACHE_KEY = "rules:active_version"
_loaded: dict[int, "ActiveRules"] = {}


@dataclass(frozen=True)
class ActiveRules:
    version: int
    config: RulesConfig
    created_at: datetime


def active_rules() -> ActiveRules:
    version = _cached_version()
    if version is not None and version in _loaded:
        return _loaded[version]
    row = RulesVersion.objects.order_by("-version").first()
    if row is None:
        raise RulesVersion.DoesNotExist("no rules version; run migrations")
    rules = ActiveRules(version=row.version, config=RulesConfig.model_validate(row.config), created_at=row.created_at)
    _loaded.clear()
    _loaded[row.version] = rules
    publish_active_version(row.version)
    return rules


def publish_active_version(version: int) -> None:
    try:
        cache.set(VERSION_CACHE_KEY, version, timeout=None)
    except Exception:
        pass


def _cached_version() -> int | None:
    try:
        return cache.get(VERSION_CACHE_KEY)
    except Exception:
        return None


def forget_cached_rules() -> None:
    """Drop the process cache and the published version (tests, and after restoring a backup)."""
    _loaded.clear()
    try:
        cache.delete(VERSION_CACHE_KEY)
    except Exception:
        pass
