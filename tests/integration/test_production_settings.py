"""Production-safe defaults: debug is off unless asked for, a process without a real secret key refuses to start,
and an API call over plain HTTP is refused (`403 https_required`), never redirected; pages still redirect.
`SECURE_SSL_REDIRECT=0`, the operator's one switch for plain HTTP, also drops secure cookies and HSTS, so the admin
signs in over http from a real hostname."""

import json
import os
import re
import secrets
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.support.assertions import assert_problem
from tests.support.contract import PROBLEM_JSON
from tests.support.processes import Web, process_env, run_python

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


SHOW_TRANSPORT = (
    "from django.conf import settings as s;"
    " print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, *s.CSRF_TRUSTED_ORIGINS)"
)


def test_tls_required_by_default_keeps_cookies_secure_and_sends_hsts():
    result = django_process(SHOW_TRANSPORT, DJANGO_SECRET_KEY=secrets.token_urlsafe(50))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "31536000"]


def test_plain_http_switch_also_drops_secure_cookies_and_hsts():
    result = django_process(
        SHOW_TRANSPORT,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="0",
        CSRF_TRUSTED_ORIGINS="http://tickets.example.test, https://ops.example.test",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "0", "http://tickets.example.test", "https://ops.example.test"]


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


# --- the admin sign-in through a production process (gunicorn, DJANGO_DEBUG=0) ----------------------------------------

HOSTNAME = "tickets.example.test"
ADMIN_PASSWORD = "correct horse battery staple 42"


def production_web(**env: str) -> Web:
    """gunicorn as a deploy runs it: debug off, a secret key of its own, a real hostname allowed, static files
    collected first (as the image's build does), an admin with a password made by the documented command."""
    environment = process_env(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=f"{HOSTNAME},127.0.0.1",
        CSRF_TRUSTED_ORIGINS=f"http://{HOSTNAME},https://{HOSTNAME}",
        **env,
    )
    run_python("manage.py", "collectstatic", "--noinput", "-v", "0", env=environment, timeout=120)
    run_python(
        "manage.py",
        "create_api_user",
        "site-admin",
        "--role",
        "admin",
        "--password-from-stdin",
        env=environment,
        input=ADMIN_PASSWORD + "\n",
    )
    return Web("production-admin-web", environment)


@pytest.fixture
def web_over_plain_http(transactional_db):
    web = production_web(SECURE_SSL_REDIRECT="0").start().wait_ready()
    yield web
    web.stop()


@pytest.fixture
def web_with_tls_required(transactional_db):
    web = production_web(SECURE_SSL_REDIRECT="1").start().wait_ready()
    yield web
    web.stop()


def set_cookies(response: httpx.Response) -> SimpleCookie:
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


def csrf_form_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_an_admin_signs_in_over_plain_http_from_a_real_hostname(web_over_plain_http):
    """A browser's sign-in, as the compose stack serves it: the CSRF cookie comes back (it is not Secure), the form's
    token and the Origin match, and the session then opens the admin."""
    origin = f"http://{HOSTNAME}"
    with httpx.Client(base_url=web_over_plain_http.url, headers={"Host": HOSTNAME}, timeout=10) as browser:
        page = browser.get("/admin/login/")
        assert page.status_code == 200, page.text[:500]
        assert not set_cookies(page)["csrftoken"]["secure"]
        assert "strict-transport-security" not in page.headers

        signed_in = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf_form_token(page.text),
                "username": "site-admin",
                "password": ADMIN_PASSWORD,
                "next": "/admin/",
            },
            headers={"Origin": origin, "Referer": f"{origin}/admin/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert signed_in.headers["location"] == "/admin/"
        assert not set_cookies(signed_in)["sessionid"]["secure"]

        admin_index = browser.get("/admin/")
        assert admin_index.status_code == 200
        assert "site-admin" in admin_index.text and "Log out" in admin_index.text


def test_a_host_not_in_allowed_hosts_gets_400(web_over_plain_http):
    response = httpx.get(f"{web_over_plain_http.url}/admin/login/", headers={"Host": "elsewhere.example.test"})

    assert response.status_code == 400


def test_with_tls_required_the_cookies_stay_secure(web_with_tls_required):
    """Behind a TLS-terminating proxy (X-Forwarded-Proto: https) the sign-in works and every cookie is Secure."""
    origin = f"https://{HOSTNAME}"
    headers = {"Host": HOSTNAME, "X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=web_with_tls_required.url, headers=headers, timeout=10) as proxy:
        assert proxy.get("/admin/login/", headers={"X-Forwarded-Proto": "http"}).status_code == 301
        page = proxy.get("/admin/login/")
        assert page.status_code == 200, page.text[:500]
        csrf_cookie = set_cookies(page)["csrftoken"]
        assert csrf_cookie["secure"]
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")

        signed_in = proxy.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf_form_token(page.text),
                "username": "site-admin",
                "password": ADMIN_PASSWORD,
                "next": "/admin/",
            },
            headers={"Origin": origin, "Referer": f"{origin}/admin/login/", "Cookie": f"csrftoken={csrf_cookie.value}"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert set_cookies(signed_in)["sessionid"]["secure"]
