"""API_TOKEN_CACHE_SECONDS (apps/accounts/token_cache.py): a process remembers who holds a token for that long, so
a request with a token it has seen skips the token and user queries; a revoked or deleted token, a deactivated user
or changed roles are honoured within that bound. The suite runs with the cache off (tests/settings.py); these tests
turn it on. Changes are made with `update()`/`delete()`, as the admin's revoke action and SQL do: nothing tells
the cache, only its bound protects."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken, User, hash_token
from apps.accounts.token_cache import forget_tokens

FEED = "/api/v1/events"
BOUND_SECONDS = 1
SLACK_SECONDS = 0.5  # a loaded machine's scheduling, on top of the bound
POLL_SECONDS = 0.05


@pytest.fixture
def cached(settings):
    settings.API_TOKEN_CACHE_SECONDS = BOUND_SECONDS
    forget_tokens()
    yield
    forget_tokens()


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_a_token_seen_lately_costs_no_query(api, admin, cached):
    raw = ApiToken.issue(admin)[1]
    with CaptureQueriesContext(connection) as first:
        assert api.client.get(FEED, **bearer(raw)).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert api.client.get(FEED, **bearer(raw)).status_code == 200

    def auth_queries(captured):
        return [q["sql"] for q in captured.captured_queries if "accounts_apitoken" in q["sql"]]

    assert len(auth_queries(first)) == 1
    assert auth_queries(second) == []
    assert len(second.captured_queries) == len(first.captured_queries) - 1


def _revoke(user, raw):
    ApiToken.objects.filter(token_hash=hash_token(raw)).update(revoked_at=timezone.now())


def _delete(user, raw):
    ApiToken.objects.filter(token_hash=hash_token(raw)).delete()


def _deactivate(user, raw):
    User.objects.filter(pk=user.pk).update(is_active=False)


def _take_the_admin_role(user, raw):
    User.objects.filter(pk=user.pk).update(roles=[], is_staff=False, is_superuser=False)


CHANGES = {"revoked": (_revoke, 401), "deleted": (_delete, 401), "deactivated": (_deactivate, 401),
           "roles_changed": (_take_the_admin_role, 403)}  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_to_a_remembered_token_or_its_user_is_honoured_within_the_bound(api, admin, cached, change):
    make_change, refused_status = CHANGES[change]
    raw = ApiToken.issue(admin)[1]
    assert api.client.get(FEED, **bearer(raw)).status_code == 200  # now remembered

    make_change(admin, raw)
    changed_at = time.monotonic()
    statuses = []
    while time.monotonic() - changed_at < BOUND_SECONDS + SLACK_SECONDS:
        statuses.append(api.client.get(FEED, **bearer(raw)).status_code)
        if statuses[-1] != 200:
            break
        time.sleep(POLL_SECONDS)
    refused_after = time.monotonic() - changed_at

    assert statuses[-1] == refused_status, f"still served {refused_after:.2f} s after the change: {statuses}"
    assert set(statuses[:-1]) <= {200}
    # And refused from then on: the entry is gone, not refreshed.
    assert {api.client.get(FEED, **bearer(raw)).status_code for _ in range(3)} == {refused_status}


def test_with_the_cache_off_a_revoked_token_is_refused_at_once(api, admin, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    raw = ApiToken.issue(admin)[1]
    assert api.client.get(FEED, **bearer(raw)).status_code == 200

    _revoke(admin, raw)

    assert api.client.get(FEED, **bearer(raw)).status_code == 401


def test_each_request_gets_a_user_of_its_own(api, admin, cached):
    """What one request does to `request.user` must not reach the next through the cache."""
    from apps.accounts.token_cache import authenticated_user

    raw = ApiToken.issue(admin)[1]
    first = authenticated_user(raw)
    first.roles.clear()
    first.is_service = True
    second = authenticated_user(raw)

    assert second is not first
    assert second.roles == admin.roles and second.is_service is False
    assert second.pk == admin.pk
