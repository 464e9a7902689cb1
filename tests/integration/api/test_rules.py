"""GET /rules shows the active version (defaults from API.md); PUT /rules appends one (admin only)."""

import re

import pytest

from apps.rules.models import RulesVersion
from apps.rules.selectors import forget_cached_rules
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.contract import DEFAULT_RULES

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def test_the_default_rules_are_the_contracts_defaults(api, nobody):
    response = api.get("/api/v1/rules", nobody)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"version", "config", "created_at", "created_by_id", "reason"}
    assert body["config"] == DEFAULT_RULES
    assert body["version"] == 1
    assert RFC3339_UTC.match(body["created_at"])


def test_a_version_stored_before_a_key_existed_shows_the_keys_default(api, nobody):
    stored = {key: value for key, value in DEFAULT_RULES.items() if key != "policy"}
    RulesVersion.objects.create(version=2, config=stored, reason="stored before policy existed")
    forget_cached_rules()

    body = api.get("/api/v1/rules", nobody).json()

    assert body["version"] == 2
    assert body["config"] == DEFAULT_RULES  # the policy in force is the default one, and it shows


def test_an_admin_changes_the_rules_as_a_new_version(api, admin, nobody, django_capture_on_commit_callbacks):
    config = {"ticket_xp": {"base_divisor": 15}, "work_session": {"timezone": "Europe/Berlin"}}

    with django_capture_on_commit_callbacks(execute=True):
        response = api.put("/api/v1/rules", {"config": config, "reason": "winter season"}, admin)

    assert response.status_code == 200, response.content
    body = response.json()
    expected = {
        "ticket_xp": {**DEFAULT_RULES["ticket_xp"], "base_divisor": 15},
        "work_session": {**DEFAULT_RULES["work_session"], "timezone": "Europe/Berlin"},
        "policy": DEFAULT_RULES["policy"],
    }
    assert (body["version"], body["config"], body["created_by_id"], body["reason"]) == (
        2,
        expected,
        admin.pk,
        "winter season",
    )
    assert api.get("/api/v1/rules", nobody).json() == body
    assert list(RulesVersion.objects.order_by("version").values_list("version", flat=True)) == [1, 2]


@pytest.mark.parametrize("role", ["master", "technician", "inspector", "nobody", "service"])
def test_only_an_admin_may_change_the_rules(request, api, role):
    response = api.put("/api/v1/rules", {"config": {}, "reason": "mine now"}, request.getfixturevalue(role))

    assert_problem(response, 403, "forbidden")
    assert RulesVersion.objects.count() == 1


INVALID_CONFIGS = {
    "divisor_zero": ({"ticket_xp": {"base_divisor": 0}}, ["body", "config", "ticket_xp", "base_divisor"]),
    "unknown_key": ({"ticket_xp": {"bonus": 2}}, ["body", "config", "ticket_xp", "bonus"]),
    "unknown_section": ({"payroll": {}}, ["body", "config", "payroll"]),
    "unknown_zone": ({"work_session": {"timezone": "Mars/Olympus"}}, ["body", "config", "work_session", "timezone"]),
    "limit_as_string": (
        {"work_session": {"daily_pause_limit_seconds": "1800"}},
        ["body", "config", "work_session", "daily_pause_limit_seconds"],
    ),
    "limit_huge": (
        {"work_session": {"daily_pause_limit_seconds": 2**70}},
        ["body", "config", "work_session", "daily_pause_limit_seconds"],
    ),
}


@pytest.mark.parametrize(("config", "loc"), list(INVALID_CONFIGS.values()), ids=list(INVALID_CONFIGS))
def test_an_invalid_config_is_refused_naming_the_bad_key(api, admin, config, loc):
    response = api.put("/api/v1/rules", {"config": config, "reason": "typo"}, admin)

    body = assert_validation_problem(response, loc)
    assert loc[-1] in body["detail"]
    assert RulesVersion.objects.count() == 1


def test_yellow_below_green_is_an_invalid_config(api, admin):
    config = {"ticket_xp": {"flag_green_max_minutes": 50, "flag_yellow_max_minutes": 40}}

    body = assert_validation_problem(api.put("/api/v1/rules", {"config": config}, admin))

    assert "flag_yellow_max_minutes" in body["detail"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"reason": "no config"}, ["body", "config"]),
        ({"config": [], "reason": "list"}, ["body", "config"]),
        ({"config": {}, "reason": "r" * 501}, ["body", "reason"]),
        ({"config": {}, "reason": "nul\x00"}, ["body", "reason"]),
        ({"config": {}, "reason": "x", "version": 9}, ["body", "version"]),
    ],
    ids=["missing_config", "config_not_object", "reason_too_long", "nul_in_reason", "extra_field"],
)
def test_an_invalid_rules_body_is_a_validation_error(api, admin, body, loc):
    assert_validation_problem(api.put("/api/v1/rules", body, admin), loc)
    assert RulesVersion.objects.count() == 1
