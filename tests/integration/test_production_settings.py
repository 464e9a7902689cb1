"""Production-safe defaults: debug is off unless asked for, a process without a real secret key refuses to start,
and an API call over plain HTTP is refused (`403 https_required`), never redirected; pages still redirect."""

import json
import os
import secrets

import pytest

from tests.support.assertions import assert_problem
from tests.support.contract import PROBLEM_JSON
from tests.support.processes import run_python

# --- settings as a fresh process reads them ---------------------------------------------------------------------------

# The key that once shipped in the repository as the debug default: published, so never good enough for production.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-only-for-debug-mode-0123456789abcdef"
SHOW = "from django.conf import settings; print(settings.DEBUG, settings.SECURE_SSL_REDIRECT)"


def django_process(code: str, **env: str):
    """`python -c code` after django.setup() with config.settings and only `env` of the DJANGO_* variables."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return run_python("-c", f"import django; django.setup(); {code}", env=environment, timeout=60, check=False)


def test_debug_is_off_unless_asked_for():
    result = django_process(SHOW, DJANGO_SECRET_KEY=secrets.token_urlsafe(50))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_without_a_secret_key_and_with_debug_off_nothing_starts():
    result = django_process(SHOW)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr


def test_the_published_development_key_is_refused_with_debug_off():
    result = django_process(SHOW, DJANGO_DEBUG="0", DJANGO_SECRET_KEY=DEVELOPMENT_SECRET_KEY)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "development key" in result.stderr


def test_debug_must_be_asked_for_and_then_runs_with_the_development_key():
    result = django_process(SHOW + "; print(settings.SECRET_KEY)", DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", DEVELOPMENT_SECRET_KEY]


def test_secure_ssl_redirect_0_serves_plain_http_with_debug_off():
    result = django_process(SHOW, DJANGO_SECRET_KEY=secrets.token_urlsafe(50), SECURE_SSL_REDIRECT="0")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


# --- the API over plain HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def tls_required(settings):
    """The production default (debug off): TLS required, the proxy's X-Forwarded-Proto honoured."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def submit(api, user, **extra):
    return api.command(user, {"type": "ticket.start", "ticket_id": 1}, **extra)


def test_an_api_post_over_plain_http_is_refused_not_redirected(api, technician, tls_required):
    response = submit(api, technician)

    body = assert_problem(response, 403, "https_required")
    assert response["Content-Type"] == PROBLEM_JSON
    assert "Location" not in response
    assert "https" in body["detail"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_every_api_method_over_plain_http_is_refused(api, technician, tls_required, method):
    response = api.send(method, "/api/v1/rules", "" if method != "PUT" else {"config": {}}, technician)

    assert_problem(response, 403, "https_required")


def test_an_unauthenticated_api_call_over_plain_http_is_refused_the_same_way(api, tls_required):
    assert_problem(api.get("/api/v1/tickets"), 403, "https_required")


def test_an_api_call_forwarded_as_https_by_the_proxy_is_served(api, technician, tls_required):
    response = submit(api, technician, HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 202, response.content


def test_an_api_call_over_https_is_served(api, technician, tls_required):
    assert submit(api, technician, secure=True).status_code == 202


def test_the_admin_is_still_redirected_to_https(client, tls_required):
    response = client.get("/admin/login/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/admin/login/"


def test_probes_stay_on_plain_http(client, tls_required):
    assert client.get("/healthz").status_code == 200


def test_with_ssl_redirect_off_the_api_serves_plain_http(api, technician, settings):
    settings.SECURE_SSL_REDIRECT = False

    response = submit(api, technician)

    assert response.status_code == 202, response.content
    assert json.loads(response.content)["status"] == "pending"
