"""`Prefer: wait` is capped per token: one that already holds COMMAND_MAX_WAITS_PER_TOKEN (default 8) waiting
requests gets `429 rate_limited` with `Retry-After`, and nothing is stored (API.md, POST /api/v1/commands).

The waits are counted in Redis (real Redis here), so the cap holds across web processes: a waiting request holds a
lease there, as the ones taken directly below stand for requests waiting in other processes. Waits may also hold
only part of a process's threads; a request that finds that part taken is answered at once, without waiting.
"""

import time
from contextlib import ExitStack

import pytest
import redis
from django.conf import settings as django_settings

from apps.accounts.models import hash_token
from apps.commands import ratelimit, waiting
from apps.commands.models import Command
from apps.common import redis_client as clients
from tests.support.assertions import assert_problem

START = {"type": "ticket.start", "ticket_id": 1}


@pytest.fixture
def token(api, technician):
    return api.token(technician)


@pytest.fixture
def other_token(api, other_technician):
    return api.token(other_technician)


@pytest.fixture
def no_process_limit(monkeypatch):
    """As a process gunicorn did not configure (the test client's): only the per-token cap applies."""
    monkeypatch.setattr(waiting, "_waiting_threads", None)


def _submit(api, token: str, *, wait: int | None = 1, body: dict = START):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if wait is not None:
        headers["HTTP_PREFER"] = f"wait={wait}"
    return api.client.post("/api/v1/commands", data=body, content_type="application/json", **headers)


def _waits_elsewhere(stack: ExitStack, token: str, seconds: list[float]) -> None:
    """Requests of `token` waiting in other web processes, one per entry of `seconds` (how long each waits)."""
    for wait in seconds:
        stack.enter_context(ratelimit.wait_lease(hash_token(token)[:24], seconds=wait))


def _leases(token: str) -> int:
    key = f"{django_settings.CACHES['default']['KEY_PREFIX']}:waits:{hash_token(token)[:24]}"
    return clients.redis_client().zcard(key)


def test_the_default_cap_is_eight_waiting_requests_per_token():
    assert django_settings.COMMAND_MAX_WAITS_PER_TOKEN == 8


def test_a_token_holding_eight_waits_is_refused_the_ninth_with_retry_after_and_nothing_stored(
    api, token, no_process_limit
):
    with ExitStack() as stack:
        _waits_elsewhere(stack, token, [30, 30, 12, 30, 30, 30, 30, 30])
        refused = _submit(api, token, wait=5)

    body = assert_problem(refused, 429, "rate_limited")
    assert "waiting" in body["detail"]
    # When the earliest of the eight ends: 12 s after it started.
    assert refused["Retry-After"].isdigit() and 11 <= int(refused["Retry-After"]) <= 12
    assert not Command.objects.exists()


def test_a_wait_is_accepted_again_once_one_of_the_eight_ends(api, token, no_process_limit):
    with ExitStack() as stack:
        _waits_elsewhere(stack, token, [30] * 7)
        with ratelimit.wait_lease(hash_token(token)[:24], seconds=30):
            assert _submit(api, token).status_code == 429

        waited = _submit(api, token, wait=1)

    assert waited.status_code == 202 and waited["Preference-Applied"] == "wait=1"
    assert Command.objects.count() == 1


def test_the_cap_counts_only_waiting_requests(api, token, no_process_limit):
    with ExitStack() as stack:
        _waits_elsewhere(stack, token, [30] * 8)

        plain = _submit(api, token, wait=None)
        no_wait = _submit(api, token, wait=0)

    assert plain.status_code == no_wait.status_code == 202
    assert no_wait["Preference-Applied"] == "wait=0"
    assert Command.objects.count() == 2


def test_another_token_waits_while_the_first_holds_its_cap(api, token, other_token, no_process_limit):
    with ExitStack() as stack:
        _waits_elsewhere(stack, token, [30] * 8)

        response = _submit(api, other_token, wait=1)

    assert response.status_code == 202 and response["Preference-Applied"] == "wait=1"


def test_a_request_releases_its_lease_when_it_answers_whatever_the_answer(api, token, no_process_limit):
    waited = _submit(api, token, wait=1)
    refused = _submit(api, token, wait=1, body={"type": "ticket.start"})

    assert waited.status_code == 202 and refused.status_code == 422
    assert _leases(token) == 0


def test_a_lease_left_by_a_process_killed_mid_wait_expires_by_itself(api, token, settings, monkeypatch):
    settings.COMMAND_MAX_WAITS_PER_TOKEN = 1
    monkeypatch.setattr(ratelimit, "WAIT_LEASE_GRACE_SECONDS", 0.5)
    killed = ratelimit.wait_lease(hash_token(token)[:24], seconds=1)
    killed.__enter__()  # never left: the process died
    assert_problem(_submit(api, token), 429, "rate_limited")

    time.sleep(1.6)

    assert _submit(api, token, wait=1).status_code == 202


def test_the_cap_can_be_turned_off(api, token, settings, no_process_limit):
    settings.COMMAND_MAX_WAITS_PER_TOKEN = 0
    with ExitStack() as stack:
        _waits_elsewhere(stack, token, [30] * 8)

        assert _submit(api, token).status_code == 202


def test_without_redis_the_cap_lets_the_wait_through(api, token, monkeypatch, no_process_limit):
    monkeypatch.setitem(clients._clients, "commands", redis.Redis(port=1, socket_connect_timeout=0.2))

    response = _submit(api, token, wait=1)

    assert response.status_code == 202 and response["Preference-Applied"] == "wait=1"


def test_waits_hold_at_most_half_of_a_process_threads_and_the_rest_answer_at_once(api, token, other_token, monkeypatch):
    monkeypatch.setattr(waiting, "_waiting_threads", None)
    waiting.share_threads(4)  # two threads for waits
    with ExitStack() as stack:
        held = [stack.enter_context(waiting.turn_to_wait(f"elsewhere-{n}", seconds=30)) for n in range(2)]
        begin = time.monotonic()

        response = _submit(api, other_token, wait=5)

        assert held == [True, True]
        assert response.status_code == 202 and "Preference-Applied" not in response
        assert time.monotonic() - begin < 2
    assert _leases(other_token) == 0

    waited = _submit(api, token, wait=1)
    assert waited.status_code == 202 and waited["Preference-Applied"] == "wait=1"


def test_the_schema_documents_the_429_with_retry_after(api):
    schema = api.get("/api/v1/openapi.json").json()
    refused = schema["paths"]["/api/v1/commands"]["post"]["responses"]["429"]

    assert "Retry-After" in refused["headers"]
    assert "waiting" in refused["description"]
