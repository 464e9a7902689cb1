"""The active rules, cached per process by version, and what has been re-derived under them.

The active version's row id lives in the cache (Redis), published after every change commits, so reading the rules
costs one cache GET and no database query while nothing changes; a newer id found there is loaded at once. The
database stays the truth: every process also re-reads the latest version at least every RECHECK_SECONDS, so a
change whose publish was lost (Redis away at that moment) is seen within that bound, and while Redis cannot be
read every read asks the database. Row ids, unlike version numbers, are never reused, even by a test database
that is emptied and refilled, and a later version has a higher one (changes are serialised).
"""

import math
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from apps.rules.config import RulesConfig
from apps.rules.models import RederivationJob, RulesRederivation, RulesVersion

VERSION_CACHE_KEY = "rules:active_row"
RECHECK_SECONDS = 2.0

_monotonic = time.monotonic  # the re-check's clock (tests move it)


@dataclass(frozen=True)
class ActiveRules:
    version: int
    config: RulesConfig
    created_at: datetime
    row_id: int


@dataclass(frozen=True)
class _Loaded:
    rules: ActiveRules | None = None
    checked_at: float = -math.inf  # when the database was last asked for the latest version


_process = _Loaded()  # replaced whole, never mutated: threads of one process share it


def active_rules() -> ActiveRules:
    loaded, published = _process, _cached_row_id()
    fresh = _monotonic() - loaded.checked_at < RECHECK_SECONDS
    if loaded.rules is not None and published is not None and published <= loaded.rules.row_id and fresh:
        return loaded.rules
    rules = latest_rules()
    if published is None:
        # add, not set: a reader that raced a change must not overwrite the newer id the change published.
        with suppress(Exception):
            cache.add(VERSION_CACHE_KEY, rules.row_id, timeout=None)
    elif published != rules.row_id:
        _publish(rules.row_id)  # a publish was lost (or a backup restored): repair it for the other processes
    return rules


def latest_rules() -> ActiveRules:
    """The latest version as the database has it now (one query), whatever the cache says."""
    row = RulesVersion.objects.order_by("-version").first()
    if row is None:
        raise RulesVersion.DoesNotExist("no rules version; run migrations")
    loaded = _process
    if loaded.rules is not None and loaded.rules.row_id == row.pk:
        rules = loaded.rules
    else:
        config = RulesConfig.model_validate(row.config)
        rules = ActiveRules(version=row.version, config=config, created_at=row.created_at, row_id=row.pk)
    _remember(_Loaded(rules=rules, checked_at=_monotonic()))
    return rules


def publish_active_version(row_id: int) -> None:
    """Called after a change commits. The cache is an optimisation; the database stays the truth, and this
    process reads it on its next read whether or not the cache took the new id."""
    _remember(_Loaded(rules=_process.rules))
    _publish(row_id)


def rederivation_recorded(*, rules_version_id: int, job: str) -> bool:
    return RulesRederivation.objects.filter(rules_version_id=rules_version_id, job=job).exists()


def missing_rederivations(*, made_before: datetime) -> tuple[int | None, list[str]]:
    """(the latest version's row id, the re-derivation jobs that have not finished under it), if it was made
    before `made_before`. Older versions need none: a re-derivation always runs under the latest rules."""
    latest = RulesVersion.objects.order_by("-version").values_list("pk", "created_at").first()
    if latest is None or latest[1] >= made_before:
        return None, []
    done = set(RulesRederivation.objects.filter(rules_version_id=latest[0]).values_list("job", flat=True))
    return latest[0], [job for job in RederivationJob.values if job not in done]


def _publish(row_id: int) -> None:
    with suppress(Exception):
        cache.set(VERSION_CACHE_KEY, row_id, timeout=None)


def _remember(loaded: _Loaded) -> None:
    global _process
    _process = loaded


def _cached_row_id() -> int | None:
    try:
        return cache.get(VERSION_CACHE_KEY)
    except Exception:  # Redis away: read the database instead
        return None


def forget_cached_rules() -> None:
    """Drop the process cache and the published version (tests, and after restoring a backup)."""
    _remember(_Loaded())
    with suppress(Exception):
        cache.delete(VERSION_CACHE_KEY)
