"""Settings read from the environment: a switch is on or off as written, and a typo is an error, not "off"."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool


@pytest.mark.parametrize("raw", ["1", "true", "True", "yes", "on", " ON "])
def test_a_switch_written_on_is_on(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off"])
def test_a_switch_written_off_is_off(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_an_unset_or_empty_switch_takes_its_default(monkeypatch, default):
    monkeypatch.delenv("TICKETFLOW_TEST_SWITCH", raising=False)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=default) is default
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", "")
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=default) is default


@pytest.mark.parametrize("raw", ["ture", "2", "enabled", "of"])
def test_a_misspelt_switch_is_refused_by_name(monkeypatch, raw):
    """SECURE_SSL_REDIRECT=ture must not quietly serve plain HTTP."""
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_TEST_SWITCH"):
        env_bool("TICKETFLOW_TEST_SWITCH", default=True)
