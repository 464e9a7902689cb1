"""The Command resource: the 202 answer, GET /commands/{id} visibility, and the filtered, paginated list."""

import re
import uuid
from datetime import datetime

import pytest
from django.db.models import F
from django.utils import timezone

from apps.commands.models import Command
from tests.support.assertions import assert_problem, assert_validation_problem

COMMAND_FIELDS = {
    "id",
    "type",
    "status",
    "ticket_id",
    "actor_id",
    "idempotency_key",
    "occurred_at",
    "effective_at",
    "submitted_at",
    "finished_at",
    "attempts",
    "result",
    "error",
}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def _pause(ticket_id: int = 1) -> dict:
    return {"type": "work_session.pause", "ticket_id": ticket_id}


def test_an_accepted_command_is_202_with_its_location_and_the_pending_command(api, technician):
    response = api.command(technician, _pause(42), HTTP_IDEMPOTENCY_KEY="pause-42")

    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == COMMAND_FIELDS
    assert response["Location"] == f"/api/v1/commands/{body['id']}"
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["type"] == "work_session.pause"
    assert body["status"] == "pending"
    assert body["ticket_id"] == 42
    assert body["actor_id"] == technician.pk
    assert body["idempotency_key"] == "pause-42"
    assert RFC3339_UTC.match(body["submitted_at"])
    assert abs((datetime.fromisoformat(body["submitted_at"]) - timezone.now()).total_seconds()) < 60
    assert body["finished_at"] is None
    assert body["attempts"] == 0
    assert body["result"] is None
    assert body["error"] is None


def test_a_ticket_create_command_has_no_ticket_id_until_it_succeeds(api, master):
    response = api.command(master, {"type": "ticket.create", "inventory_item_id": 5, "part_specs": []})

    assert response.status_code == 202
    assert response.json()["ticket_id"] is None


def test_the_location_answers_with_the_same_command(api, technician):
    accepted = api.command(technician, _pause())

    response = api.get(accepted["Location"], technician)

    assert response.status_code == 200
    assert response.json() == accepted.json()


def test_a_finished_command_shows_its_outcome(api, technician):
    command_id = api.command(technician, _pause()).json()["id"]
    Command.objects.filter(id=command_id).update(
        status="rejected",
        attempts=1,
        effective_at=F("occurred_at"),
        finished_at=timezone.now(),
        error_code="no_open_session",
        error_message="the ticket has no open work session",
    )

    body = api.get(f"/api/v1/commands/{command_id}", technician).json()

    assert body["status"] == "rejected"
    assert body["attempts"] == 1
    assert RFC3339_UTC.match(body["finished_at"])
    assert body["error"] == {"code": "no_open_session", "message": "the ticket has no open work session"}


def test_another_users_command_is_invisible_to_a_non_admin_and_visible_to_an_admin(
    api, technician, other_technician, admin
):
    command_id = api.command(technician, _pause()).json()["id"]

    assert_problem(api.get(f"/api/v1/commands/{command_id}", other_technician), 404, "not_found")
    assert api.get(f"/api/v1/commands/{command_id}", admin).json()["id"] == command_id


@pytest.mark.parametrize(
    "command_id",
    [str(uuid.uuid4()), "not-a-uuid", "12345", "0" * 200, f"{uuid.uuid4()}x"],
    ids=["unknown", "word", "number", "long", "uuid_suffix"],
)
def test_an_unknown_or_malformed_command_id_is_not_found(api, technician, command_id):
    api.command(technician, _pause())

    assert_problem(api.get(f"/api/v1/commands/{command_id}", technician), 404, "not_found")


# --- the list --------------------------------------------------------------------------------------------------


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_the_list_shows_a_caller_only_its_own_commands_and_an_admin_all(api, technician, other_technician, admin):
    mine = {api.command(technician, _pause(n)).json()["id"] for n in (1, 2)}
    theirs = {api.command(other_technician, _pause(3)).json()["id"]}

    assert set(_ids(api.get("/api/v1/commands", technician))) == mine
    assert set(_ids(api.get("/api/v1/commands", other_technician))) == theirs
    assert set(_ids(api.get("/api/v1/commands", admin))) == mine | theirs


def test_the_list_items_are_commands_and_the_envelope_has_a_cursor(api, technician):
    api.command(technician, _pause())

    body = api.get("/api/v1/commands", technician).json()

    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert set(body["items"][0]) == COMMAND_FIELDS


def test_the_list_filters_by_ticket_and_status(api, technician):
    on_7 = api.command(technician, _pause(7)).json()["id"]
    done_on_7 = api.command(technician, {"type": "work_session.stop", "ticket_id": 7}).json()["id"]
    on_8 = api.command(technician, _pause(8)).json()["id"]
    Command.objects.filter(id=done_on_7).update(
        status="succeeded", attempts=1, effective_at=F("occurred_at"), finished_at=timezone.now()
    )

    assert set(_ids(api.get("/api/v1/commands?ticket_id=7", technician))) == {on_7, done_on_7}
    assert set(_ids(api.get("/api/v1/commands?status=pending", technician))) == {on_7, on_8}
    assert _ids(api.get("/api/v1/commands?status=succeeded", technician)) == [done_on_7]
    assert _ids(api.get("/api/v1/commands?ticket_id=7&status=pending", technician)) == [on_7]
    assert _ids(api.get("/api/v1/commands?ticket_id=9", technician)) == []


def test_the_list_pages_chain_through_next_cursor_and_end_with_null(api, technician):
    submitted = {api.command(technician, _pause(n)).json()["id"] for n in range(1, 6)}

    pages, cursor = [], None
    while True:
        path = "/api/v1/commands?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(path, technician).json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 5

    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [command_id for page in pages for command_id in page]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == submitted


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", ["query", "limit"]),
        ("limit=201", ["query", "limit"]),
        ("limit=-1", ["query", "limit"]),
        ("limit=ten", ["query", "limit"]),
        ("cursor=garbage", ["query", "cursor"]),
        ("cursor=eyJrIjogImEifQ", ["query", "cursor"]),
        ("cursor=" + "A" * 300, ["query", "cursor"]),
        ("status=paused", ["query", "status"]),
        ("ticket_id=abc", ["query", "ticket_id"]),
        (f"ticket_id={2**70}", ["query", "ticket_id"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_list_query_is_a_validation_error(api, technician, query, loc):
    response = api.get(f"/api/v1/commands?{query}", technician)

    assert_validation_problem(response, loc)


@pytest.mark.parametrize("limit", [1, 200])
def test_the_limit_bounds_are_accepted(api, technician, limit):
    api.command(technician, _pause())

    assert len(_ids(api.get(f"/api/v1/commands?limit={limit}", technician))) == 1
