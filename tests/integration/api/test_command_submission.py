"""POST /api/v1/commands: every error row of API.md's table, actor_id, idempotency and Prefer: wait."""

import json
import time
from datetime import datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from apps.commands.models import Command
from apps.common import time as clock
from tests.support.assertions import assert_problem, assert_validation_problem

START = {"type": "ticket.start", "ticket_id": 1}


def _specs(*overrides, **fields):
    spec = {"inventory_item_part_id": 1, "color": "green", "minutes": 30, **fields}
    return [spec, *overrides]


# --- 400 malformed_json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "ticket.start", "ticket_id": ',
        b"not json",
        b"",
        b'{"type": "ticket.start", "ticket_id": NaN}',
        b"\xff",
    ],
    ids=["truncated", "text", "empty", "nan", "invalid_utf8"],
)
def test_a_body_that_is_not_json_is_malformed(api, technician, raw):
    response = api.raw_post("/api/v1/commands", raw, technician, content_type="application/json")

    assert_problem(response, 400, "malformed_json")
    assert not Command.objects.exists()


def test_deeply_nested_json_is_refused_without_a_server_error(api, technician):
    response = api.command(technician, b"[" * 30000 + b"]" * 30000)

    assert_problem(response, 400, "malformed_json")


def test_a_lone_surrogate_in_a_note_is_refused_as_invalid_input(api, admin):
    response = api.command(admin, b'{"type": "ticket.qc_fail", "ticket_id": 1, "note": "\\ud800"}')

    assert_problem(response, 422, "validation_error")
    assert not Command.objects.exists()


# --- 413 payload_too_large -------------------------------------------------------------------------------------


def test_a_body_just_over_64_kib_is_too_large(api, technician):
    body = json.dumps({"type": "ticket.to_waiting_qc", "ticket_id": 1, "note": "x" * (64 * 1024)})
    assert 64 * 1024 < len(body) < 64 * 1024 + 100

    assert_problem(api.command(technician, body), 413, "payload_too_large")
    assert not Command.objects.exists()


def test_a_ten_megabyte_body_is_too_large(api, technician):
    body = b'{"type": "ticket.start", "ticket_id": 1, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    assert_problem(api.command(technician, body), 413, "payload_too_large")


def test_a_body_just_under_64_kib_is_read_and_validated(api, technician):
    body = json.dumps({"type": "ticket.to_waiting_qc", "ticket_id": 1, "note": "x" * (60 * 1024)})

    # Not refused for its size; the 2000-character note limit is what refuses it.
    assert_validation_problem(api.command(technician, body), ["body", "note"])


# --- 415 unsupported_media_type --------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""])
def test_a_body_that_is_not_declared_json_is_unsupported(api, technician, content_type):
    response = api.command(technician, json.dumps(START), content_type=content_type)

    assert_problem(response, 415, "unsupported_media_type")
    assert not Command.objects.exists()


def test_form_data_is_unsupported(api, technician):
    response = api.client.post("/api/v1/commands", data=START, **api.auth(technician))

    assert response.request["CONTENT_TYPE"].startswith("multipart/form-data")
    assert_problem(response, 415, "unsupported_media_type")


def test_a_body_without_any_content_type_is_unsupported(api, technician):
    response = api.raw_post("/api/v1/commands", json.dumps(START).encode(), technician)

    assert_problem(response, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(api, technician):
    response = api.command(technician, START, content_type="application/json; charset=utf-8")

    assert response.status_code == 202


# --- 422 validation_error --------------------------------------------------------------------------------------

INVALID_BODIES = {
    "unknown_type": ({"type": "ticket.explode", "ticket_id": 1}, ["body", "type"]),
    "missing_type": ({"ticket_id": 1}, ["body", "type"]),
    "type_not_a_string": ({"type": 7, "ticket_id": 1}, ["body", "type"]),
    "system_type_not_public": ({"type": "work_session.auto_resume", "ticket_id": 1, "session_id": 1}, ["body", "type"]),
    "missing_field": ({"type": "ticket.start"}, ["body", "ticket_id"]),
    "extra_field": ({"type": "ticket.start", "ticket_id": 1, "priority": "high"}, ["body", "priority"]),
    "ticket_id_string": ({"type": "ticket.start", "ticket_id": "1"}, ["body", "ticket_id"]),
    "ticket_id_true": ({"type": "ticket.start", "ticket_id": True}, ["body", "ticket_id"]),
    "ticket_id_float": ({"type": "ticket.start", "ticket_id": 1.5}, ["body", "ticket_id"]),
    "ticket_id_null": ({"type": "ticket.start", "ticket_id": None}, ["body", "ticket_id"]),
    "ticket_id_zero": ({"type": "ticket.start", "ticket_id": 0}, ["body", "ticket_id"]),
    "ticket_id_2_pow_70": ({"type": "ticket.start", "ticket_id": 2**70}, ["body", "ticket_id"]),
    "ticket_id_2_pow_63": ({"type": "ticket.start", "ticket_id": 2**63}, ["body", "ticket_id"]),
    "minutes_10081": (
        {"type": "ticket.set_part_specs", "ticket_id": 1, "part_specs": _specs(minutes=10081)},
        ["body", "part_specs", 0, "minutes"],
    ),
    "minutes_negative": (
        {"type": "ticket.set_part_specs", "ticket_id": 1, "part_specs": _specs(minutes=-1)},
        ["body", "part_specs", 0, "minutes"],
    ),
    "second_spec_minutes_negative": (
        {
            "type": "ticket.create",
            "inventory_item_id": 1,
            "part_specs": _specs({"inventory_item_part_id": 2, "color": "red", "minutes": -1}),
        },
        ["body", "part_specs", 1, "minutes"],
    ),
    "unknown_color": (
        {"type": "ticket.create", "inventory_item_id": 1, "part_specs": _specs(color="blue")},
        ["body", "part_specs", 0, "color"],
    ),
    "part_spec_extra_field": (
        {"type": "ticket.create", "inventory_item_id": 1, "part_specs": _specs(price=3)},
        ["body", "part_specs", 0, "price"],
    ),
    "comment_2001_chars": (
        {"type": "ticket.create", "inventory_item_id": 1, "part_specs": _specs(comment="c" * 2001)},
        ["body", "part_specs", 0, "comment"],
    ),
    "duplicated_part_ids": (
        {
            "type": "ticket.create",
            "inventory_item_id": 1,
            "part_specs": _specs({"inventory_item_part_id": 1, "color": "red", "minutes": 5}),
        },
        ["body", "part_specs"],
    ),
    "part_specs_missing": ({"type": "ticket.create", "inventory_item_id": 1}, ["body", "part_specs"]),
    "part_specs_not_a_list": (
        {"type": "ticket.create", "inventory_item_id": 1, "part_specs": {"inventory_item_part_id": 1}},
        ["body", "part_specs"],
    ),
    "title_256_chars": (
        {"type": "ticket.create", "inventory_item_id": 1, "title": "t" * 256, "part_specs": []},
        ["body", "title"],
    ),
    "nul_in_title": (
        {"type": "ticket.create", "inventory_item_id": 1, "title": "a\x00b", "part_specs": []},
        ["body", "title"],
    ),
    "nul_in_note": ({"type": "ticket.qc_fail", "ticket_id": 1, "note": "loose\x00chain"}, ["body", "note"]),
    "note_2001_chars": ({"type": "ticket.qc_fail", "ticket_id": 1, "note": "n" * 2001}, ["body", "note"]),
    "technician_id_missing": ({"type": "ticket.assign", "ticket_id": 1}, ["body", "technician_id"]),
    "xp_amount_negative": (
        {"type": "ticket.set_manual_metrics", "ticket_id": 1, "flag_color": "red", "xp_amount": -1},
        ["body", "xp_amount"],
    ),
    "xp_amount_2_pow_70": (
        {"type": "ticket.set_manual_metrics", "ticket_id": 1, "flag_color": "red", "xp_amount": 2**70},
        ["body", "xp_amount"],
    ),
    "flag_color_unknown": (
        {"type": "ticket.set_manual_metrics", "ticket_id": 1, "flag_color": "purple", "xp_amount": 1},
        ["body", "flag_color"],
    ),
}


# Each invalid body is sent by a user whose role may submit its type, so the answer is about the body, not the role.
SUBMITTER = {
    "ticket.create": "master",
    "ticket.set_part_specs": "master",
    "ticket.assign": "master",
    "ticket.start": "technician",
}


@pytest.mark.parametrize(("body", "loc"), list(INVALID_BODIES.values()), ids=list(INVALID_BODIES))
def test_an_ill_formed_command_is_a_validation_error_naming_the_field(request, api, body, loc):
    user = request.getfixturevalue(SUBMITTER.get(body.get("type"), "admin"))

    response = api.command(user, body)

    assert_validation_problem(response, loc)
    assert not Command.objects.exists()


@pytest.mark.parametrize("body", [[START], ["ticket.start"], "ticket.start", 42, None], ids=repr)
def test_a_body_that_is_json_but_not_an_object_is_a_validation_error(api, technician, body):
    response = api.command(technician, json.dumps(body))

    assert_validation_problem(response, ["body"])


def test_the_longest_allowed_title_and_the_boundary_minutes_are_accepted(api, master):
    specs = [
        {"inventory_item_part_id": 1, "color": "green", "minutes": 0},
        {"inventory_item_part_id": 2, "color": "red", "minutes": 10080, "comment": "c" * 2000},
    ]
    body = {"type": "ticket.create", "inventory_item_id": 1, "title": "t" * 255, "part_specs": specs}

    assert api.command(master, body).status_code == 202


@pytest.mark.parametrize(
    "key", ["k" * 256, "has space", "", "tab\there", "caf\u00e9"], ids=["256_chars", "space", "empty", "tab", "latin1"]
)
def test_an_idempotency_key_that_is_not_1_to_255_visible_ascii_characters_is_refused(api, technician, key):
    response = api.command(technician, START, HTTP_IDEMPOTENCY_KEY=key)

    assert_validation_problem(response, ["header", "Idempotency-Key"])
    assert not Command.objects.exists()


def test_an_idempotency_key_of_255_visible_characters_is_accepted(api, technician):
    key = ("!~" + "k" * 253)[:255]

    response = api.command(technician, START, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 202
    assert response.json()["idempotency_key"] == key


# --- 403 forbidden and actor_id ----------------------------------------------------------------------------------


def test_a_role_that_may_not_submit_the_type_is_forbidden(api, technician):
    response = api.command(technician, {"type": "ticket.approve_review", "ticket_id": 1})

    assert_problem(response, 403, "forbidden")
    assert not Command.objects.exists()


@pytest.mark.parametrize("actor", ["self", "other"])
def test_actor_id_from_a_user_who_is_not_a_service_is_forbidden(api, admin, technician, actor):
    actor_id = admin.pk if actor == "self" else technician.pk

    response = api.command(admin, {"type": "ticket.qc_pass", "ticket_id": 1, "actor_id": actor_id})

    assert_problem(response, 403, "forbidden")
    assert not Command.objects.exists()


def test_a_service_user_acts_for_a_technician_with_the_technicians_roles(api, service, technician):
    response = api.command(service, {"type": "work_session.pause", "ticket_id": 1, "actor_id": technician.pk})

    assert response.status_code == 202, response.content
    assert response.json()["actor_id"] == technician.pk
    command = Command.objects.get()
    assert (command.submitter_id, command.actor_id) == (service.pk, technician.pk)


def test_a_service_user_acting_for_a_master_may_not_pause_a_work_session(api, service, master):
    response = api.command(service, {"type": "work_session.pause", "ticket_id": 1, "actor_id": master.pk})

    assert_problem(response, 403, "forbidden")
    assert not Command.objects.exists()


def test_a_service_user_without_roles_may_not_submit_on_its_own_behalf(api, service):
    response = api.command(service, {"type": "work_session.pause", "ticket_id": 1})

    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("actor_id", ["7", True, 0, 2**70, 10**9], ids=["string", "true", "zero", "huge", "unknown"])
def test_a_service_user_naming_no_valid_actor_is_a_validation_error(api, service, actor_id):
    response = api.command(service, {"type": "work_session.pause", "ticket_id": 1, "actor_id": actor_id})

    assert_validation_problem(response, ["body", "actor_id"])


@pytest.mark.parametrize("extra", [{"actor_id": None}, {"occurred_at": None}, {"occurred_at": "2026-12-02T10:00:00Z"}])
def test_a_service_only_key_from_anyone_else_is_forbidden_whatever_its_value(api, admin, extra):
    response = api.command(admin, {"type": "ticket.qc_pass", "ticket_id": 1, **extra})

    assert_problem(response, 403, "forbidden")
    assert not Command.objects.exists()


def test_a_service_only_key_is_forbidden_before_anything_else_is_checked(api, technician):
    response = api.command(technician, {"type": "no.such.type", "occurred_at": "not a time", "stray": 1})

    assert_problem(response, 403, "forbidden")


# --- event time: submitted_at from PostgreSQL, occurred_at from a service ------------------------------------------

PAUSE_AS_SERVICE = {"type": "work_session.pause", "ticket_id": 1}


def test_submitted_at_is_postgresqls_clock_and_occurred_at_defaults_to_it(api, technician):
    before = clock.database_now()
    response = api.command(technician, {"type": "work_session.pause", "ticket_id": 1})
    after = clock.database_now()

    body = response.json()
    command = Command.objects.get()
    assert before <= command.submitted_at <= after
    assert command.occurred_at == command.submitted_at and command.effective_at is None
    assert body["occurred_at"] == body["submitted_at"] and body["effective_at"] is None


@pytest.mark.parametrize("seconds", [-600, -42.5, 0, 1.5], ids=["oldest", "behind", "now", "a little ahead"])
def test_a_service_may_say_when_the_act_happened_within_the_bounds(api, service, technician, seconds):
    occurred = clock.database_now() + timedelta(seconds=seconds + (1 if seconds == -600 else 0))
    body = {
        "type": "work_session.pause",
        "ticket_id": 1,
        "actor_id": technician.pk,
        "occurred_at": occurred.isoformat(),
    }

    response = api.command(service, body)

    assert response.status_code == 202, response.content
    command = Command.objects.get()
    assert command.occurred_at == occurred
    assert datetime.fromisoformat(response.json()["occurred_at"]) == occurred


@pytest.mark.parametrize(
    "occurred",
    [
        lambda now: (now + timedelta(seconds=5)).isoformat(),
        lambda now: (now - timedelta(seconds=700)).isoformat(),
        lambda now: now.replace(tzinfo=None).isoformat(),
        lambda now: "yesterday",
        lambda now: 1764670000,
        lambda now: "0001-01-01T00:00:00Z",
        lambda now: "9999-12-31T23:59:59+14:00",
    ],
    ids=["ahead", "too far behind", "no offset", "not a time", "a number", "year 1", "year 9999"],
)
def test_an_occurred_at_out_of_bounds_or_without_an_offset_is_a_validation_error(api, service, technician, occurred):
    value = occurred(clock.database_now())
    body = {**PAUSE_AS_SERVICE, "actor_id": technician.pk, "occurred_at": value}

    response = api.command(service, body)

    assert_validation_problem(response, ["body", "occurred_at"])
    assert not Command.objects.exists()


def test_the_backdating_bound_is_a_setting(api, service, technician, settings):
    settings.COMMAND_MAX_BACKDATE_SECONDS = 30
    occurred = clock.database_now() - timedelta(seconds=60)
    body = {
        "type": "work_session.pause",
        "ticket_id": 1,
        "actor_id": technician.pk,
        "occurred_at": occurred.isoformat(),
    }

    assert_validation_problem(api.command(service, body), ["body", "occurred_at"])


# --- idempotency -------------------------------------------------------------------------------------------------


def test_a_replay_with_the_same_key_and_body_returns_the_original_command_while_pending(api, technician):
    first = api.command(technician, START, HTTP_IDEMPOTENCY_KEY="key-1")
    again = api.command(technician, START, HTTP_IDEMPOTENCY_KEY="key-1")

    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert Command.objects.count() == 1


def test_a_replay_matches_the_body_by_value_not_by_its_spelling(api, technician):
    first = api.command(technician, '{"type": "ticket.start", "ticket_id": 1}', HTTP_IDEMPOTENCY_KEY="key-1")
    again = api.command(technician, '{"ticket_id":1,"type":"ticket.start"}', HTTP_IDEMPOTENCY_KEY="key-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_a_replay_of_a_finished_command_is_200_with_its_outcome(api, technician):
    first = api.command(technician, START, HTTP_IDEMPOTENCY_KEY="key-1").json()
    Command.objects.filter(id=first["id"]).update(
        status="rejected",
        effective_at=F("occurred_at"),
        finished_at=timezone.now(),
        attempts=1,
        error_code="not_found",
        error_message="no ticket 1",
    )

    again = api.command(technician, START, HTTP_IDEMPOTENCY_KEY="key-1")

    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    body = again.json()
    assert (body["id"], body["status"]) == (first["id"], "rejected")
    assert body["error"] == {"code": "not_found", "message": "no ticket 1"}
    assert Command.objects.count() == 1


def test_reusing_a_key_with_a_different_body_is_refused(api, technician):
    api.command(technician, START, HTTP_IDEMPOTENCY_KEY="key-1")

    response = api.command(technician, {"type": "ticket.start", "ticket_id": 2}, HTTP_IDEMPOTENCY_KEY="key-1")

    assert_problem(response, 422, "idempotency_key_reused")
    assert Command.objects.count() == 1


def test_idempotency_keys_are_scoped_per_caller(api, technician, other_technician):
    mine = api.command(technician, START, HTTP_IDEMPOTENCY_KEY="shared").json()
    theirs = api.command(other_technician, START, HTTP_IDEMPOTENCY_KEY="shared")

    assert theirs.status_code == 202 and "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine["id"]
    assert Command.objects.count() == 2


def test_without_a_key_the_same_body_is_two_commands(api, technician):
    first = api.command(technician, START).json()
    second = api.command(technician, START).json()

    assert first["id"] != second["id"]
    assert first["idempotency_key"] is second["idempotency_key"] is None


# --- Prefer: wait ----------------------------------------------------------------------------------------------


def test_prefer_wait_answers_202_when_the_command_is_still_pending_after_the_wait(api, technician):
    started = time.monotonic()

    response = api.command(technician, START, HTTP_PREFER="wait=1")

    assert time.monotonic() - started >= 0.9
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response["Location"] == f"/api/v1/commands/{response.json()['id']}"
