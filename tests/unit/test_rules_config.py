"""Rules config validation: defaults are API.md's, and every refusal names the bad key."""

import pytest

from apps.common.errors import DomainError, ErrorCode
from apps.rules.config import DEFAULT_CONFIG, InvalidRulesConfig, parse_config
from tests.support.contract import DEFAULT_RULES


def refusal(raw) -> InvalidRulesConfig:
    with pytest.raises(InvalidRulesConfig) as refused:
        parse_config(raw)
    assert isinstance(refused.value, DomainError)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    return refused.value


def test_defaults_are_the_ones_api_md_documents():
    assert DEFAULT_CONFIG == DEFAULT_RULES
    assert parse_config({}).model_dump() == DEFAULT_RULES


def test_missing_keys_take_their_defaults():
    config = parse_config({"work_session": {"timezone": "Europe/Berlin"}})
    assert config.work_session.timezone == "Europe/Berlin"
    assert config.work_session.daily_pause_limit_seconds == 1800
    assert config.ticket_xp.model_dump() == DEFAULT_RULES["ticket_xp"]
    assert str(config.work_session.zone) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("raw", "name", "loc"),
    [
        ({"ticket_xp": {"base_divisor": 0}}, "ticket_xp.base_divisor", ["config", "ticket_xp", "base_divisor"]),
        ({"ticket_xp": {"base_divisor": "20"}}, "ticket_xp.base_divisor", ["config", "ticket_xp", "base_divisor"]),
        ({"ticket_xp": {"first_pass_bonus": -1}}, "ticket_xp.first_pass_bonus", None),
        ({"ticket_xp": {"qc_status_update_xp": 1.5}}, "ticket_xp.qc_status_update_xp", None),
        (
            {"work_session": {"daily_pause_limit_seconds": 12 * 3600 + 1}},
            "work_session.daily_pause_limit_seconds",
            ["config", "work_session", "daily_pause_limit_seconds"],
        ),
        ({"work_session": {"daily_pause_limit_seconds": -1}}, "work_session.daily_pause_limit_seconds", None),
    ],
)
def test_an_out_of_range_or_ill_typed_value_is_named(raw, name, loc):
    error = refusal(raw)
    assert name in error.message
    if loc is not None:
        assert loc in [e["loc"] for e in error.errors]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc+1", "", "Europe/Berlin "])
def test_an_unknown_time_zone_is_refused(zone):
    error = refusal({"work_session": {"timezone": zone}})
    assert "work_session.timezone" in error.message
    assert "unknown time zone" in error.message
    assert [e["loc"] for e in error.errors] == [["config", "work_session", "timezone"]]


def test_yellow_below_green_is_refused():
    error = refusal({"ticket_xp": {"flag_green_max_minutes": 50, "flag_yellow_max_minutes": 40}})
    assert "flag_yellow_max_minutes" in error.message
    assert error.errors[0]["loc"] == ["config", "ticket_xp"]


def test_yellow_equal_to_green_is_accepted():
    config = parse_config({"ticket_xp": {"flag_green_max_minutes": 40, "flag_yellow_max_minutes": 40}})
    assert config.ticket_xp.flag_yellow_max_minutes == 40


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ({"ticket_xp": {"bonus": 1}}, "ticket_xp.bonus"),
        ({"work_session": {"limit": 10}}, "work_session.limit"),
        ({"colours": {}}, "colours"),
    ],
)
def test_an_extra_key_is_refused_by_name(raw, name):
    error = refusal(raw)
    assert f"{name}: Extra inputs are not permitted" in error.message


@pytest.mark.parametrize("raw", [None, [], "ticket_xp", 3])
def test_a_config_that_is_not_an_object_is_refused(raw):
    error = refusal(raw)
    assert error.errors[0]["loc"] == ["config"]


def test_every_bad_key_is_reported_at_once():
    error = refusal({"ticket_xp": {"base_divisor": 0}, "work_session": {"timezone": "Nowhere/Land"}})
    assert {tuple(e["loc"]) for e in error.errors} == {
        ("config", "ticket_xp", "base_divisor"),
        ("config", "work_session", "timezone"),
    }
