"""GET /api/v1/events: who may read it, its filters and pages, its 422s, and `Prefer: wait`."""

import threading
import time

import pytest
from django.db import connection, transaction

from apps.common.time import utc_now
from apps.events.payloads import rules_changed
from apps.events.recording import NewEvent, record_event
from apps.rules.models import RulesVersion
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.builders import workplace

FEED = "/api/v1/events"


@pytest.fixture
def life(shop):
    """Two tickets' events: one started (with its session), one only created; then a rules change."""
    started = shop.started().ticket
    item, parts = workplace()
    other = shop.create(item=item, parts=parts)
    record_event(rules_changed(RulesVersion.objects.get(version=1)))
    return started, other


def feed(api, user, **params):
    response = api.get(FEED, user, data=params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "service"])
def test_admins_and_service_users_read_the_feed(request, api, life, who):
    page = feed(api, request.getfixturevalue(who))
    assert [item["position"] for item in page["items"]] == sorted(item["position"] for item in page["items"])
    assert page["next_after"] == page["items"][-1]["position"]
    first = page["items"][0]
    assert set(first) == {
        "position", "id", "type", "occurred_at", "recorded_at", "ticket_id", "technician_id", "actor_id",
        "command_id", "data",
    }  # fmt: skip
    assert first["type"] == "ticket.created" and first["occurred_at"].endswith("Z")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["master", "technician", "inspector", "nobody"])
def test_everyone_else_is_forbidden(request, api, life, who):
    assert_problem(api.get(FEED, request.getfixturevalue(who)), 403, "forbidden")


@pytest.mark.django_db
def test_without_a_token_the_feed_is_401(api, life):
    assert_problem(api.get(FEED), 401, "unauthenticated")


@pytest.mark.django_db
def test_filters_narrow_the_feed(api, admin, life, shop):
    _, other = life
    all_types = [item["type"] for item in feed(api, admin)["items"]]
    assert all_types[-1] == "rules.changed"

    sessions = feed(api, admin, type="work_session.*")["items"]
    assert [item["type"] for item in sessions] == ["work_session.started"]
    assert [item["type"] for item in feed(api, admin, type="ticket.assigned")["items"]] == ["ticket.assigned"]
    assert len(feed(api, admin, type="*")["items"]) == len(all_types)

    mine = feed(api, admin, ticket_id=other.pk)["items"]
    assert [(item["type"], item["ticket_id"]) for item in mine] == [("ticket.created", other.pk)]
    worked = feed(api, admin, technician_id=shop.technician.pk, type="ticket.*")["items"]
    assert [item["type"] for item in worked] == ["ticket.assigned", "ticket.started"]


@pytest.mark.django_db
def test_paging_with_next_after_serves_each_event_once(api, admin, life):
    everything = [item["position"] for item in feed(api, admin)["items"]]
    paged, after = [], 0
    while True:
        page = feed(api, admin, after=after, limit=2)
        if not page["items"]:
            assert page["next_after"] == after
            break
        assert len(page["items"]) <= 2
        paged += [item["position"] for item in page["items"]]
        after = page["next_after"]
    assert paged == everything


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 1001}, ["query", "limit"]),
        ({"after": -1}, ["query", "after"]),
        ({"after": 2**63}, ["query", "after"]),
        ({"after": "soon"}, ["query", "after"]),
        ({"type": "ticket.exploded"}, ["query", "type"]),
        ({"type": "parcel.*"}, ["query", "type"]),
        ({"ticket_id": 0}, ["query", "ticket_id"]),
        ({"technician_id": "x"}, ["query", "technician_id"]),
    ],
)
def test_bad_parameters_are_422(api, admin, params, loc):
    assert_validation_problem(api.get(FEED, admin, data=params), loc)


@pytest.mark.django_db
def test_the_schema_names_the_operation_and_its_problems(api):
    operation = api.get("/api/v1/openapi.json").json()["paths"]["/api/v1/events"]["get"]
    assert operation["operationId"] == "listEvents"
    assert {"200", "401", "403", "422", "429"} <= set(operation["responses"])


def record_later(seconds: float, event_type: str = "rules.changed") -> threading.Thread:
    """Commit one event from another connection after `seconds` (its on-commit announcement included)."""

    def record():
        time.sleep(seconds)
        try:
            with transaction.atomic():
                record_event(NewEvent(type=event_type, occurred_at=utc_now(), data={}))
        finally:
            connection.close()

    thread = threading.Thread(target=record)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_waiting_empty_page_answers_as_soon_as_an_event_commits(api, admin):
    after = feed(api, admin)["next_after"]
    writer = record_later(0.3)
    started = time.monotonic()
    response = api.get(FEED, admin, data={"after": after}, HTTP_PREFER="wait=5")
    elapsed = time.monotonic() - started
    writer.join()

    assert response.status_code == 200 and response["Preference-Applied"] == "wait=5"
    assert [item["type"] for item in response.json()["items"]] == ["rules.changed"]
    # Woken by the announcement: the fallback re-reads only once a second.
    assert 0.3 <= elapsed < 0.9, elapsed


@pytest.mark.django_db(transaction=True)
def test_a_wait_ignores_events_its_filters_do_not_match_and_ends_empty(api, admin):
    after = feed(api, admin)["next_after"]
    writer = record_later(0.2, "rules.changed")
    started = time.monotonic()
    response = api.get(FEED, admin, data={"after": after, "type": "ticket.*"}, HTTP_PREFER="wait=1")
    elapsed = time.monotonic() - started
    writer.join()

    assert response.json() == {"items": [], "next_after": after}
    assert elapsed >= 1.0
