"""The active-rules reader: cached by version (no query while nothing changed), refreshed after a change commits,
and, with the publish lost or Redis away, within a bounded time all the same (the database is the truth)."""

import pytest
from django.core.cache import cache

from apps.rules import selectors
from apps.rules.config import InvalidRulesConfig, RulesConfig
from apps.rules.models import RulesVersion
from apps.rules.selectors import active_rules
from apps.rules.services import change_rules

pytestmark = pytest.mark.django_db

BERLIN = {"work_session": {"timezone": "Europe/Berlin", "daily_pause_limit_seconds": 900}}
BOUND_SECONDS = 5  # how soon every process reads a committed change, whatever happened to its publish


class Monotonic:
    """A stand-in for the reader's monotonic clock, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch):
    clock = Monotonic()
    monkeypatch.setattr(selectors, "_monotonic", clock, raising=False)
    return clock


def redis_away(*args, **kwargs):
    raise ConnectionError("Redis is away")


def test_the_first_read_loads_the_latest_version(django_assert_num_queries):
    with django_assert_num_queries(1):
        rules = active_rules()
    assert rules.version == RulesVersion.objects.order_by("-version").first().version == 1
    assert rules.config == RulesConfig()


def test_reading_cached_rules_costs_no_query(django_assert_num_queries):
    first = active_rules()
    with django_assert_num_queries(0):
        again = active_rules()
        active_rules()
    assert again == first


def test_a_rules_change_is_picked_up_once_it_commits(django_capture_on_commit_callbacks, django_assert_num_queries):
    assert active_rules().version == 1

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = change_rules(config=BERLIN, reason="moved east", changed_by=None)
        with django_assert_num_queries(0):
            assert active_rules().version == 1  # not committed yet: nothing was published

    assert len(callbacks) == 2  # the new version's publication and the announcement of its `rules.changed` event
    with django_assert_num_queries(1):
        fresh = active_rules()
    assert (fresh.version, row.version, row.reason) == (2, 2, "moved east")
    assert fresh.config.work_session.timezone == "Europe/Berlin"
    assert fresh.config.work_session.daily_pause_limit_seconds == 900
    assert fresh.config.ticket_xp == RulesConfig().ticket_xp
    with django_assert_num_queries(0):
        assert active_rules() == fresh


def test_every_change_appends_a_version_with_the_full_config(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        change_rules(config=BERLIN, reason="one", changed_by=None)
        change_rules(config={}, reason="two", changed_by=None)

    assert list(RulesVersion.objects.order_by("version").values_list("version", "reason")) == [
        (1, "defaults"),
        (2, "one"),
        (3, "two"),
    ]
    assert RulesVersion.objects.get(version=2).config == RulesConfig.model_validate(BERLIN).model_dump()
    assert active_rules().version == 3
    assert active_rules().config == RulesConfig()


def test_an_invalid_change_is_refused_and_appends_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(InvalidRulesConfig) as refused:
        change_rules(config={"work_session": {"timezone": "Atlantis/Capital"}}, reason="bad", changed_by=None)
    assert "work_session.timezone" in refused.value.message
    assert callbacks == []
    assert RulesVersion.objects.count() == 1
    assert active_rules().version == 1


def test_a_change_whose_publish_was_lost_is_read_within_the_bound(
    monotonic, django_capture_on_commit_callbacks, django_assert_num_queries
):
    assert active_rules().version == 1

    with django_capture_on_commit_callbacks(execute=False):  # another process's change: its publish never arrived
        change_rules(config=BERLIN, reason="publish lost", changed_by=None)

    monotonic.now += 1
    with django_assert_num_queries(0):
        assert active_rules().version == 1  # between checks of the database, the cached version stands
    monotonic.now += BOUND_SECONDS - 1
    fresh = active_rules()
    assert (fresh.version, fresh.config.work_session.timezone) == (2, "Europe/Berlin")
    with django_assert_num_queries(0):
        assert active_rules() == fresh


def test_a_reader_whose_cache_missed_a_change_repairs_it_for_the_others(monotonic, django_capture_on_commit_callbacks):
    active_rules()
    with django_capture_on_commit_callbacks(execute=False):
        row = change_rules(config=BERLIN, reason="publish lost", changed_by=None)

    monotonic.now += BOUND_SECONDS
    assert active_rules().version == 2

    assert cache.get(selectors.VERSION_CACHE_KEY) == row.pk


def test_the_process_that_made_a_change_reads_it_even_when_the_publish_fails(
    monotonic, monkeypatch, django_capture_on_commit_callbacks
):
    assert active_rules().version == 1
    monkeypatch.setattr(cache, "set", redis_away)

    with django_capture_on_commit_callbacks(execute=True):
        change_rules(config=BERLIN, reason="Redis failed once", changed_by=None)

    assert active_rules().version == 2


def test_with_redis_away_every_read_asks_the_database(monotonic, monkeypatch, django_assert_num_queries):
    assert active_rules().version == 1
    monkeypatch.setattr(cache, "get", redis_away)
    monkeypatch.setattr(cache, "set", redis_away)
    monkeypatch.setattr(cache, "add", redis_away)

    change_rules(config=BERLIN, reason="Redis away", changed_by=None)

    with django_assert_num_queries(1):
        assert active_rules().version == 2
