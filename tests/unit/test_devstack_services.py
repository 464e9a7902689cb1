"""Which services `make run` embeds (devstack/services.py), probed against real sockets: the machine's PostgreSQL and
Redis answer on their default addresses, a port nobody listens on does not."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from devstack import services
from tests.support.processes import free_port

BOTH = ["DATABASE_URL", "REDIS_URL"]


@pytest.fixture
def nothing_configured(monkeypatch):
    for name in BOTH:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def nothing_answering(monkeypatch):
    """Default addresses on which nothing listens: a bare machine."""
    monkeypatch.setattr(services, "DEFAULT_ADDRESSES", {name: ("127.0.0.1", free_port()) for name in BOTH})


def test_auto_embeds_both_on_a_bare_machine(nothing_configured, nothing_answering):
    assert services.variables_to_embed("auto") == BOTH


def test_auto_embeds_nothing_where_both_answer_on_their_default_addresses(nothing_configured):
    assert services.variables_to_embed("auto") == []


def test_auto_embeds_only_what_is_missing(nothing_configured, monkeypatch):
    monkeypatch.setitem(services.DEFAULT_ADDRESSES, "REDIS_URL", ("127.0.0.1", free_port()))
    assert services.variables_to_embed("auto") == ["REDIS_URL"]


def test_auto_never_embeds_a_configured_service_even_when_it_is_down(nothing_answering, monkeypatch):
    """A configured URL is the user's choice: preflight names it if it is down, rather than replacing it."""
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketflow")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert services.variables_to_embed("auto") == ["REDIS_URL"]


def test_the_switch_forces_either_way(nothing_configured, nothing_answering):
    assert services.variables_to_embed("external") == []
    assert services.variables_to_embed("embedded") == BOTH


@pytest.mark.parametrize("raw", ["embeded", "docker", "1"])
def test_a_misspelt_switch_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_SERVICES", raw)
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_SERVICES="):
        services.services_mode()
