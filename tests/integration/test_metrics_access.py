"""Who may read `/metrics`: a request straight from METRICS_ALLOWED_NETWORKS (loopback and the private ranges by
default), or one with `Authorization: Bearer <METRICS_TOKEN>` from anywhere. A request relayed by a proxy does not
count as coming from the proxy's own (often private or loopback) address."""

import ipaddress

import pytest

from tests.support.assertions import assert_problem

pytestmark = pytest.mark.django_db

PROMETHEUS_TEXT = "text/plain"


def scrape(client, address: str, **headers):
    return client.get("/metrics", REMOTE_ADDR=address, headers=headers)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "172.20.0.5", "192.168.1.10", "::ffff:127.0.0.1"])
def test_a_scrape_from_loopback_or_a_private_network_is_served(client, address):
    response = scrape(client, address)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(PROMETHEUS_TEXT)
    assert b"ticketflow_commands_pending" in response.content


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1", "172.32.0.1"])
def test_a_scrape_from_a_public_address_is_refused(client, address):
    assert_problem(scrape(client, address), 403, "forbidden")


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded"])
def test_a_request_relayed_by_a_proxy_on_loopback_is_refused(client, header):
    assert_problem(scrape(client, "127.0.0.1", **{header: "203.0.113.7"}), 403, "forbidden")


def test_the_bearer_token_opens_it_from_anywhere_and_a_wrong_one_does_not(client, settings):
    settings.METRICS_TOKEN = "scrape-secret-0123456789"

    token = {"Authorization": "Bearer scrape-secret-0123456789"}
    assert scrape(client, "203.0.113.7", **token).status_code == 200
    assert scrape(client, "127.0.0.1", **token, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    assert_problem(scrape(client, "203.0.113.7", Authorization="Bearer wrong"), 403, "forbidden")
    assert_problem(scrape(client, "203.0.113.7", Authorization="Bearer ✓"), 403, "forbidden")


def test_the_networks_are_the_operators_to_choose(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("198.51.100.0/24")]

    assert scrape(client, "198.51.100.9").status_code == 200
    assert_problem(scrape(client, "127.0.0.1"), 403, "forbidden")
