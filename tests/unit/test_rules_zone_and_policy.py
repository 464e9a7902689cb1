"""The rules' time zone is UTC or a tz region zone (Area/Location), never a host alias; the policy section
(self-QC, self-approval) defaults to off and a key left out takes its default (API.md, "Inventory and rules")."""

import pytest

from apps.rules.config import DEFAULT_CONFIG, InvalidRulesConfig, RulesConfig, parse_config
from tests.support.contract import DEFAULT_RULES


def refusal(raw) -> InvalidRulesConfig:
    with pytest.raises(InvalidRulesConfig) as refused:
        parse_config(raw)
    return refused.value


@pytest.mark.parametrize(
    "zone",
    [
        "localtime",  # whatever /etc/localtime says on the host that reads it
        "Factory",
        "posixrules",
        "posix/Europe/Berlin",
        "right/UTC",
        "EST5EDT",
        "GMT",
        "Etc/GMT+5",
        "US/Eastern",
        "Japan",
    ],
)
def test_a_host_alias_or_a_zone_outside_the_region_areas_is_refused(zone):
    error = refusal({"work_session": {"timezone": zone}})

    assert [e["loc"] for e in error.errors] == [["config", "work_session", "timezone"]]
    assert "work_session.timezone" in error.message


@pytest.mark.parametrize(
    "zone",
    ["UTC", "Europe/Berlin", "America/New_York", "America/Argentina/Buenos_Aires", "Asia/Tokyo", "Pacific/Auckland"],
)
def test_utc_and_region_zones_are_accepted(zone):
    assert parse_config({"work_session": {"timezone": zone}}).work_session.timezone == zone


def test_a_stored_version_is_read_back_as_stored():
    """Versions are history: one written before the zone rule tightened still loads (a new one may not use it)."""
    stored = {**DEFAULT_CONFIG, "work_session": {"daily_pause_limit_seconds": 1800, "timezone": "Etc/GMT-2"}}

    assert RulesConfig.model_validate(stored).work_session.timezone == "Etc/GMT-2"
    refusal(stored)


def test_the_policy_defaults_to_no_self_qc_and_no_self_approval():
    assert DEFAULT_RULES["policy"] == {"allow_self_qc": False, "allow_self_approval": False}
    assert DEFAULT_CONFIG == DEFAULT_RULES
    assert parse_config({}).policy.model_dump() == DEFAULT_RULES["policy"]


def test_a_policy_key_left_out_takes_its_default():
    config = parse_config({"policy": {"allow_self_qc": True}})

    assert (config.policy.allow_self_qc, config.policy.allow_self_approval) == (True, False)
    assert config.ticket_xp.model_dump() == DEFAULT_RULES["ticket_xp"]


def test_a_stored_version_without_a_policy_reads_as_the_default_policy():
    stored = {"ticket_xp": DEFAULT_RULES["ticket_xp"], "work_session": DEFAULT_RULES["work_session"]}

    assert RulesConfig.model_validate(stored).policy.model_dump() == DEFAULT_RULES["policy"]


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ({"policy": {"allow_self_qc": "yes"}}, ["config", "policy", "allow_self_qc"]),
        ({"policy": {"allow_self_approval": 1}}, ["config", "policy", "allow_self_approval"]),
        ({"policy": {"allow_self_review": True}}, ["config", "policy", "allow_self_review"]),
        ({"policy": True}, ["config", "policy"]),
    ],
)
def test_an_ill_typed_or_unknown_policy_key_is_refused_by_name(raw, loc):
    assert loc in [e["loc"] for e in refusal(raw).errors]
