"""The cache (apps/common/cache.py) is Django's Redis cache keeping one redis-py client per connection pool: Django
gives each thread a cache object of its own, and each now builds one client, not one per operation; operations
behave as Django's."""

from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache, caches

from apps.common.cache import KeptClientRedisCache


def cache_round_trip(n: int) -> tuple:
    key = f"kept-client-{n}"
    added = cache.add(key, n, 30)
    again = cache.add(key, n + 1, 30)  # NX: the first value stays
    value = cache.get(key)
    cache.delete(key)
    return added, again, value, cache.get(key, "gone")


def test_each_threads_cache_builds_one_client_for_all_its_operations(redis_client_builds):
    built = redis_client_builds
    with ThreadPoolExecutor(4) as pool:  # threads of their own: each starts with a cache object of its own
        results = list(pool.map(cache_round_trip, range(200)))

    assert results == [(True, False, n, "gone") for n in range(200)]
    assert 1 <= len(built) <= 4  # Django's own built one per operation: 1,000 here


def test_the_settings_name_the_kept_client_backend(settings):
    assert settings.CACHES["default"]["BACKEND"] == "apps.common.cache.KeptClientRedisCache"
    assert isinstance(caches["default"], KeptClientRedisCache)
