"""Hand-written hostile inputs: whatever arrives, the API answers a problem with a contract code, never a 5xx.

Every body-bearing endpoint (POST /commands with each command type, POST /inventory-items, POST .../parts,
PUT /rules) gets huge and odd numbers, exotic but valid Unicode, NUL bytes and unpaired surrogates in each string
field, 10,000 levels of nesting, 10 MB bodies, wrong content types, duplicate keys and non-object bodies.
"""

import json
from typing import Any

import pytest

from apps.accounts.models import Role
from apps.commands import waiting
from apps.commands.models import Command
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.rules.models import RulesVersion
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.contract import COMMAND_BODIES, DEFAULT_RULES, PROBLEM_JSON
from tests.support.factories import InventoryItemFactory, UserFactory

# API.md's problem codes (HTTP errors and command refusals).
CONTRACT_CODES = {
    "malformed_json",
    "unauthenticated",
    "forbidden",
    "payload_too_large",
    "unsupported_media_type",
    "validation_error",
    "idempotency_key_reused",
    "not_found",
    "conflict",
}

ITEM = {"serial_number": "SN-HOSTILE-1", "name": "Gazelle", "category": "bike"}
PART = {"name": "brakes"}
RULES = {"config": DEFAULT_RULES, "reason": "hostile"}


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [(path, value)]


def _replaced(body: Any, path: tuple, value: Any) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def _with_raw(body: Any, path: tuple, literal: str) -> bytes:
    """The body as JSON text, with the value at `path` spelled exactly `literal` (1e400, -0, ...)."""
    marker = "\u2603raw-literal\u2603"
    return json.dumps(_replaced(body, path, marker)).replace(json.dumps(marker), literal).encode()


def _fields(kind: type) -> list:
    """(endpoint, body path) for each leaf of type `kind` in every body the API accepts; ids read as `where.path`."""
    cases = []
    for name, fields in COMMAND_BODIES.items():
        body = {"type": name, **fields}
        cases += [
            pytest.param("command", body, path, id=f"{name}.{_dotted(path)}")
            for path, v in _leaves(body)
            if isinstance(v, kind) and not isinstance(v, bool)
        ]
    for endpoint, body in (("item", ITEM), ("part", PART), ("rules", RULES)):
        cases += [
            pytest.param(endpoint, body, path, id=f"{endpoint}.{_dotted(path)}")
            for path, v in _leaves(body)
            if isinstance(v, kind) and not isinstance(v, bool)
        ]
    return cases


def _dotted(path: tuple) -> str:
    return ".".join(str(step) for step in path)


STRING_FIELDS = _fields(str)
INTEGER_FIELDS = _fields(int)
BODY_ENDPOINTS = ["command", "item", "part", "rules"]


@pytest.fixture
def everyone(db):
    """A user holding every role, so each command type gets past the role check to validation."""
    return UserFactory(username="all-roles", roles=[role.value for role in Role])


@pytest.fixture
def item(db):
    return InventoryItemFactory(serial_number="SN-HOSTILE-PARENT")


@pytest.fixture
def send(api, everyone, item):
    """send(endpoint, body, content_type=...) → response; bytes and str bodies are sent as they are."""
    paths = {
        "command": ("POST", "/api/v1/commands"),
        "item": ("POST", "/api/v1/inventory-items"),
        "part": ("POST", f"/api/v1/inventory-items/{item.pk}/parts"),
        "rules": ("PUT", "/api/v1/rules"),
    }

    def send(endpoint: str, body: Any, **extra):
        method, path = paths[endpoint]
        return api.send(method, path, body, everyone, **extra)

    return send


def _stored_nothing(item) -> bool:
    return (
        not Command.objects.exists()
        and InventoryItem.objects.exclude(pk=item.pk).count() == 0
        and not InventoryItemPart.objects.exists()
        and RulesVersion.objects.count() == 1
    )


def assert_contract_problem(response) -> dict:
    """Not a 5xx; a problem with the contract's fields and one of its codes."""
    assert response.status_code < 500, response.content
    assert response["Content-Type"] == PROBLEM_JSON, (response.status_code, response.content[:300])
    body = assert_problem(response, response.status_code, response.json()["code"])
    assert body["code"] in CONTRACT_CODES, body
    return body


# --- numbers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["18446744073709551616", "1e309", "1e400", "-1e400", "-0.0", "true", "1.5"])
@pytest.mark.parametrize(("endpoint", "body", "path"), INTEGER_FIELDS)
def test_a_huge_float_or_boolean_integer_is_a_validation_error_naming_the_field(
    send, item, endpoint, body, path, literal
):
    response = send(endpoint, _with_raw(body, path, literal))

    assert_validation_problem(response, ["body", *path])
    assert _stored_nothing(item)


ACCEPTS_ZERO = {
    ("ticket.create", "part_specs", 0, "minutes"),
    ("ticket.set_part_specs", "part_specs", 0, "minutes"),
    ("ticket.set_manual_metrics", "xp_amount"),
    ("rules", "config", "ticket_xp", "first_pass_bonus"),
    ("rules", "config", "ticket_xp", "qc_status_update_xp"),
    ("rules", "config", "ticket_xp", "flag_green_max_minutes"),
    ("rules", "config", "work_session", "daily_pause_limit_seconds"),
}
# Zero yellow minutes is below the green maximum: refused by the section's cross-field rule, which names the section.
REFUSED_BY_SECTION = {("rules", "config", "ticket_xp", "flag_yellow_max_minutes"): ["body", "config", "ticket_xp"]}


@pytest.mark.parametrize(("endpoint", "body", "path"), INTEGER_FIELDS)
def test_minus_zero_is_the_integer_zero(send, item, endpoint, body, path):
    response = send(endpoint, _with_raw(body, path, "-0"))

    field = (body.get("type", endpoint), *path)
    if field in ACCEPTS_ZERO:
        assert response.status_code in (200, 201, 202), response.content
    else:
        assert_validation_problem(response, REFUSED_BY_SECTION.get(field, ["body", *path]))


# --- strings -------------------------------------------------------------------------------------------------

UNICODE = {
    "rtl": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "emoji": "\U0001f6b2\U0001f527\U0001f468\u200d\U0001f527 \U0001f3f3\ufe0f\u200d\U0001f308",
    "combining": "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349a\u0308\u0301",
}
# Fields that take free text (not enums, ids or zone names): exotic but valid text must go through unchanged.
FREE_TEXT = [
    p
    for p in STRING_FIELDS
    if p.values[2][-1] in {"title", "note", "comment", "serial_number", "name", "category", "reason"}
]


@pytest.mark.parametrize("text", list(UNICODE.values()), ids=list(UNICODE))
@pytest.mark.parametrize(("endpoint", "body", "path"), FREE_TEXT)
def test_valid_but_exotic_unicode_in_free_text_is_kept_exactly(send, endpoint, body, path, text):
    response = send(endpoint, _replaced(body, path, text))

    assert response.status_code in (200, 201, 202), response.content
    stored = Command.objects.get().payload if endpoint == "command" else response.json()
    for step in path:
        stored = stored[step]
    assert stored == text


@pytest.mark.parametrize(
    "bad", ["a\x00b", "\x00", "a\ud800b", "\udfff", "\ud83d"], ids=["nul", "only_nul", "high", "low", "lone_half_emoji"]
)
@pytest.mark.parametrize(("endpoint", "body", "path"), STRING_FIELDS)
def test_nul_bytes_and_unpaired_surrogates_in_any_string_field_are_validation_errors(
    send, item, endpoint, body, path, bad
):
    response = send(endpoint, _replaced(body, path, bad))

    assert_validation_problem(response, ["body", *path])
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_surrogate_or_nul_in_a_key_is_a_validation_error(send, item, endpoint):
    body = {"command": {"type": "ticket.start", "ticket_id": 1}, "item": ITEM, "part": PART, "rules": RULES}[endpoint]
    for key in ("\ud800", "ticket_id\x00"):
        assert_validation_problem(send(endpoint, {**body, key: 1}))
    assert _stored_nothing(item)


def test_an_escaped_surrogate_pair_is_one_valid_character(send):
    response = send("command", b'{"type": "ticket.qc_fail", "ticket_id": 1, "note": "\\ud83d\\udeb2"}')

    assert response.status_code == 202, response.content
    assert Command.objects.get().payload["note"] == "\U0001f6b2"


# --- structure -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_ten_thousand_levels_of_nesting_are_malformed_json(send, item, endpoint):
    for nested in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        assert_problem(send(endpoint, nested), 400, "malformed_json")
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_deep_nesting_that_parses_is_a_validation_error(send, item, endpoint):
    body = {"command": {"type": "ticket.start", "ticket_id": 1}, "item": ITEM, "part": PART, "rules": RULES}[endpoint]
    nested = json.dumps(body)[:-1] + ', "deep": ' + "[" * 500 + "]" * 500 + "}"

    assert_validation_problem(send(endpoint, nested))
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_ten_megabyte_body_is_too_large(send, item, endpoint):
    body = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    assert_problem(send(endpoint, body), 413, "payload_too_large")
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_body_over_64_kib_is_too_large_everywhere(send, item, endpoint):
    body = {"command": {"type": "ticket.start", "ticket_id": 1}, "item": ITEM, "part": PART, "rules": RULES}[endpoint]
    padded = json.dumps({**body, "pad": "x" * (64 * 1024)})

    assert_problem(send(endpoint, padded), 413, "payload_too_large")
    assert _stored_nothing(item)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "application/json-patch+json", "text/json"],
)
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_json_body_under_another_content_type_is_unsupported(send, item, endpoint, content_type):
    body = {"command": {"type": "ticket.start", "ticket_id": 1}, "item": ITEM, "part": PART, "rules": RULES}[endpoint]

    assert_problem(send(endpoint, json.dumps(body), content_type=content_type), 415, "unsupported_media_type")
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", ["item", "part", "rules"])
def test_multipart_form_data_is_unsupported(api, everyone, item, endpoint):
    path = {
        "item": "/api/v1/inventory-items",
        "part": f"/api/v1/inventory-items/{item.pk}/parts",
        "rules": "/api/v1/rules",
    }[endpoint]
    response = api.client.generic(
        "PUT" if endpoint == "rules" else "POST",
        path,
        data=b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nbrakes\r\n--b--\r\n',
        content_type="multipart/form-data; boundary=b",
        **api.auth(everyone),
    )

    assert_problem(response, 415, "unsupported_media_type")
    assert _stored_nothing(item)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "ticket.start", "ticket_id": 1, "ticket_id": 2}',
        b'{"type": "ticket.create", "inventory_item_id": 1, "part_specs": [{"inventory_item_part_id": 1, '
        b'"color": "red", "color": "green", "minutes": 1}]}',
    ],
    ids=["top_level", "nested"],
)
def test_a_command_with_a_duplicate_key_is_a_validation_error(send, item, raw):
    body = assert_validation_problem(send("command", raw), ["body"])

    assert "duplicate key" in body["errors"][0]["msg"]
    assert _stored_nothing(item)


@pytest.mark.parametrize("endpoint", ["item", "part", "rules"])
def test_an_inventory_or_rules_body_with_a_duplicate_key_is_a_validation_error(send, item, endpoint):
    raw = {
        "item": b'{"serial_number": "SN-D", "name": "a", "name": "b"}',
        "part": b'{"name": "a", "name": "b"}',
        "rules": b'{"config": {}, "reason": "a", "reason": "b"}',
    }[endpoint]

    assert_validation_problem(send(endpoint, raw), ["body"])
    assert _stored_nothing(item)


@pytest.mark.parametrize("raw", [b'"ticket.start"', b"[1, 2]", b"[]", b"null", b"42", b"-0", b"true", b"1e400"])
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_a_body_that_is_not_an_object_is_a_validation_error(send, item, endpoint, raw):
    assert_validation_problem(send(endpoint, raw))
    assert _stored_nothing(item)


@pytest.mark.parametrize(
    "raw", [b"NaN", b"Infinity", b'{"ticket_id": -Infinity}', b"\xff\xfe", b"\xed\xa0\x80", b'{"a": "\\ud8"}', b"{"]
)
@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_text_that_is_not_json_is_malformed(send, item, endpoint, raw):
    assert_problem(send(endpoint, raw), 400, "malformed_json")
    assert _stored_nothing(item)


# --- query strings, paths and headers ---------------------------------------------------------------------------

QUERIES = [
    "/api/v1/commands?status={v}",
    "/api/v1/commands?ticket_id={v}",
    "/api/v1/commands?cursor={v}",
    "/api/v1/commands?limit={v}",
    "/api/v1/tickets?status={v}",
    "/api/v1/tickets?technician_id={v}",
    "/api/v1/tickets?inventory_item_id={v}",
    "/api/v1/tickets?flag_color={v}",
    "/api/v1/tickets?cursor={v}",
    "/api/v1/inventory-items?serial_number={v}",
    "/api/v1/inventory-items?cursor={v}",
    "/api/v1/technicians/{tech}/pause-budget?date={v}",
    "/api/v1/tickets/1/transitions?limit={v}",
]
QUERY_VALUES = {
    "nul": "a%00b",
    "surrogate_bytes": "%ED%A0%80",
    "huge": "18446744073709551616",
    "inf": "1e400",
    "minus_zero": "-0",
    "rtl_emoji": "%E2%80%AE%F0%9F%9A%B2",
    "long": "9" * 5000,
}


@pytest.mark.parametrize("value", list(QUERY_VALUES.values()), ids=list(QUERY_VALUES))
@pytest.mark.parametrize("template", QUERIES)
def test_hostile_query_values_are_answered_without_a_server_error(api, everyone, template, value):
    response = api.get(template.format(v=value, tech=everyone.pk), everyone)

    if response.status_code != 200:
        assert_contract_problem(response)


def test_more_query_fields_than_django_parses_is_a_validation_error(api, everyone):
    response = api.get("/api/v1/tickets?" + "&".join(f"f{i}=1" for i in range(1500)), everyone)

    assert_contract_problem(response)
    assert response.status_code in (400, 422)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets/18446744073709551616",
        "/api/v1/tickets/9223372036854775808/transitions",
        "/api/v1/tickets/0/work-sessions",
        "/api/v1/inventory-items/18446744073709551616",
        "/api/v1/inventory-items/18446744073709551616/parts",
        "/api/v1/technicians/18446744073709551616/xp",
        "/api/v1/technicians/9223372036854775808/pause-budget",
        "/api/v1/commands/%00",
        "/api/v1/commands/%ED%A0%80",
        "/api/v1/tickets/%F0%9F%9A%B2",
        "/api/v1/tickets/1%00",
    ],
)
def test_hostile_path_values_are_not_found(api, everyone, path):
    assert_problem(api.get(path, everyone), 404, "not_found")


def test_a_part_for_an_item_id_beyond_bigint_is_not_found(api, everyone):
    response = api.post("/api/v1/inventory-items/18446744073709551616/parts", PART, everyone)

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer " + "x" * 10_000, "Bearer tf_\x00", "Bearer \xff\xfe", "Bearer", "bearer  ", "Basic Og==", "Bearer a b c"],
    ids=["long", "nul", "latin1", "no_token", "blank", "basic", "spaces"],
)
def test_hostile_authorization_headers_are_unauthenticated(client, db, authorization):
    response = client.post(
        "/api/v1/commands",
        data=json.dumps({"type": "ticket.start", "ticket_id": 1}),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
    )

    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(
    "key", ["\xe9t\xe9", "a b", "x" * 256, "\x00", ""], ids=["latin1", "space", "too_long", "nul", "empty"]
)
def test_hostile_idempotency_keys_are_validation_errors(send, item, key):
    response = send("command", {"type": "ticket.start", "ticket_id": 1}, HTTP_IDEMPOTENCY_KEY=key)

    assert_validation_problem(response, ["header", "Idempotency-Key"])
    assert _stored_nothing(item)


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=-1", "wait=1e400", "\x00", "wait=0" * 500, "wait=" + "9" * 5000])
def test_hostile_prefer_headers_are_ignored_or_capped(send, monkeypatch, prefer):
    # A pending command is never final in a rolled-back test transaction: cap the wait so a match costs 1 s, not 30.
    monkeypatch.setattr(waiting, "MAX_WAIT_SECONDS", 1)

    response = send("command", {"type": "ticket.start", "ticket_id": 1}, HTTP_PREFER=prefer)

    assert response.status_code == 202, response.content
    assert Command.objects.count() == 1


def test_a_huge_wait_is_capped_at_thirty_seconds():
    assert waiting.requested_wait("wait=99999999999") == 30
    assert waiting.requested_wait("wait=" + "9" * 5000) == 30


# --- methods -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/commands", {"GET", "POST"}),
        ("PUT", "/api/v1/commands/00000000-0000-0000-0000-000000000000", {"GET"}),
        ("PATCH", "/api/v1/rules", {"GET", "PUT"}),
        ("POST", "/api/v1/tickets", {"GET"}),
        ("DELETE", "/api/v1/tickets/1", {"GET"}),
        ("POST", "/api/v1/technicians/1/xp", {"GET"}),
        ("PUT", "/api/v1/inventory-items/1/parts", {"GET", "POST"}),
    ],
)
def test_a_method_a_path_does_not_have_is_a_405_problem_naming_the_allowed_ones(api, everyone, method, path, allowed):
    response = api.send(method, path, {}, everyone)

    assert response.status_code == 405, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == "method_not_allowed" and body["status"] == 405
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
