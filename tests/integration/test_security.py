"""Security properties beyond the role matrix (tests/integration/api/test_command_roles.py has that).

Tokens never reach logs or responses after they are issued; revocation takes effect at once; the admin wants
staff; production settings pass `check --deploy`; command submission is rate-limited per token.
"""

import io
import json
import logging
import os
import secrets
import subprocess
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.app.trace import trace_task
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.models import ApiToken, hash_token
from apps.commands.models import Command
from apps.ticket import services_workflow as workflow
from config.celery import app as celery_app
from config.logging import JsonFormatter
from tests.support.assertions import assert_problem
from tests.support.contract import PROBLEM_JSON
from tests.support.factories import UserFactory
from tests.support.logs import ROOT
from tests.support.processes import run_python
from workers.commands import process_lane

LOGGERS = ["", "ticketflow", "django", "django.request", "django.db.backends", "celery", "celery.app.trace"]


@contextmanager
def captured_logs():
    """Every record of the app's, Django's (SQL included) and Celery's loggers, formatted as production does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    debug_cursor, connection.force_debug_cursor = connection.force_debug_cursor, True
    try:
        yield stream
    finally:
        connection.force_debug_cursor = debug_cursor
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- tokens stay secret --------------------------------------------------------------------------------------------


def test_a_token_never_appears_in_the_logs_while_authenticating_submitting_and_failing(api, shop, monkeypatch):
    ticket = shop.assigned()
    with captured_logs() as logs:
        call_command(
            "create_api_user", shop.technician.username, "--role", "technician", stdout=(issued := io.StringIO())
        )
        token = issued.getvalue().strip()
        wrong = "tf_" + secrets.token_urlsafe(32)
        post = {"path": "/api/v1/commands", "content_type": "application/json"}

        assert api.client.get("/api/v1/tickets", **bearer(token)).status_code == 200
        accepted = api.client.post(
            **post, data=json.dumps({"type": "ticket.start", "ticket_id": ticket.pk}), **bearer(token)
        )
        assert accepted.status_code == 202
        # The worker's code path: Celery's tracer (it logs the task outcome) around the lane task.
        trace_task(
            process_lane,
            str(uuid.uuid4()),
            (f"ticket:{ticket.pk}",),
            {},
            app=celery_app,
        )
        assert Command.objects.get().status == "succeeded"

        assert api.client.post(**post, data="{}", **bearer(wrong)).status_code == 401
        assert api.client.post(**post, data='{"type": "ticket.start"}', **bearer(token)).status_code == 422
        assert api.client.post(**post, data='{"type": "ticket.create"}', **bearer(token)).status_code == 403
        assert (
            api.client.post("/api/v1/commands", data="x", content_type="text/plain", **bearer(token)).status_code == 415
        )
        assert api.client.get(f"/api/v1/commands/{uuid.uuid4()}", **bearer(token)).status_code == 404
        monkeypatch.setattr("apps.ticket.api.ticket_data", lambda *a, **k: 1 / 0)
        assert api.client.get(f"/api/v1/tickets/{ticket.pk}", **bearer(token)).status_code == 500

    text = logs.getvalue()
    # The capture saw all of it: the accepted command, the worker's task, refusals, the crash, and the SQL that
    # looked the token up by its hash.
    for expected in (
        "command accepted",
        "process_lane",
        "succeeded",
        "Unauthorized",
        "Unprocessable",
        "Forbidden",
        "unhandled error",
        "ZeroDivisionError",
        hash_token(token),
    ):
        assert expected in text, expected
    assert token not in text
    assert wrong not in text
    assert token[len(ApiToken.PREFIX) :] not in text


def test_the_access_log_format_names_no_request_header():
    namespace = {}
    exec((ROOT / "config" / "gunicorn.py").read_text(), namespace)

    assert "%(h)s" in namespace["access_log_format"]  # the remote address: the format is the one gunicorn uses
    assert "}i)" not in namespace["access_log_format"]  # %({authorization}i)s would log the bearer token


def test_a_token_never_appears_in_any_api_response_after_it_is_issued(api, shop):
    token = api.token(shop.admin)
    done = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=done.pk, actor=shop.inspector, at=shop.tick())
    api.command(shop.admin, {"type": "ticket.approve_review", "ticket_id": done.pk})
    api.command(shop.admin, {"type": "ticket.approve_review", "ticket_id": done.pk}, HTTP_IDEMPOTENCY_KEY="k-1")
    command_id = Command.objects.order_by("seq").first().id
    paths = [
        "/api/v1/commands",
        f"/api/v1/commands/{command_id}",
        f"/api/v1/commands?ticket_id={done.pk}",
        "/api/v1/tickets",
        f"/api/v1/tickets/{done.pk}",
        f"/api/v1/tickets/{done.pk}/transitions",
        f"/api/v1/tickets/{done.pk}/work-sessions",
        f"/api/v1/technicians/{shop.technician.pk}/xp",
        f"/api/v1/technicians/{shop.admin.pk}/pause-budget",
        "/api/v1/inventory-items",
        f"/api/v1/inventory-items/{shop.item.pk}/parts",
        "/api/v1/rules",
        "/api/v1/openapi.json",
        "/api/v1/docs",
    ]
    answers = [api.client.get(path, **bearer(token)) for path in paths]
    answers.append(api.client.post("/api/v1/commands", data="{", content_type="application/json", **bearer(token)))
    answers.append(
        api.command(shop.admin, {"type": "ticket.approve_review", "ticket_id": done.pk}, HTTP_IDEMPOTENCY_KEY="k-1")
    )

    assert [a.status_code for a in answers] == [200] * len(paths) + [400, 202]
    secrets_ = (token, hash_token(token), ApiToken.objects.get(user=shop.admin).token_hash)
    for path, answer in zip([*paths, "bad body", "replay"], answers, strict=True):
        exposed = answer.content.decode() + json.dumps(dict(answer.headers))
        for secret in secrets_:
            assert secret not in exposed, path


def test_the_admin_shows_a_tokens_hint_but_neither_the_token_nor_its_hash(client, shop):
    token = ApiToken.issue(shop.technician)[1]
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(staff)
    stored = ApiToken.objects.get(user=shop.technician)

    pages = [client.get("/admin/accounts/apitoken/"), client.get(f"/admin/accounts/apitoken/{stored.pk}/change/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert stored.hint in html
        assert token not in html and stored.token_hash not in html


# --- revocation ------------------------------------------------------------------------------------------------------


def test_revoking_a_token_refuses_its_next_request_and_leaves_the_users_other_tokens_working(api, technician):
    token, other = ApiToken.issue(technician)[1], ApiToken.issue(technician)[1]
    assert api.client.get("/api/v1/tickets", **bearer(token)).status_code == 200

    ApiToken.objects.filter(token_hash=hash_token(token)).update(revoked_at=timezone.now())

    assert_problem(api.client.get("/api/v1/tickets", **bearer(token)), 401, "unauthenticated")
    refused = api.client.post(
        "/api/v1/commands",
        data='{"type": "ticket.start", "ticket_id": 1}',
        content_type="application/json",
        **bearer(token),
    )
    assert_problem(refused, 401, "unauthenticated")
    assert refused["WWW-Authenticate"] == "Bearer"
    assert not Command.objects.exists()
    assert api.client.get("/api/v1/tickets", **bearer(other)).status_code == 200


def test_the_admins_revoke_action_refuses_the_token(client, api, technician):
    token = ApiToken.issue(technician)[1]
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(staff)
    stored = ApiToken.objects.get(token_hash=hash_token(token))

    response = client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [stored.pk]})

    assert response.status_code == 302
    client.logout()
    assert_problem(client.get("/api/v1/tickets", **bearer(token)), 401, "unauthenticated")


# --- the admin wants staff -------------------------------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/",
    "/admin/commands/command/",
    "/admin/ticket/ticketreviewqueue/",
    "/admin/accounts/apitoken/",
    "/admin/accounts/user/",
    "/admin/rules/rulesversion/",
]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_an_authenticated_user_who_is_not_staff_is_sent_to_the_admin_login(client, db, page):
    client.force_login(UserFactory(username="worker", roles=["admin"], is_staff=False))

    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_a_staff_user_gets_the_admin_pages(client, db, page):
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))

    assert client.get(page).status_code == 200


def test_an_api_token_does_not_open_the_admin(client, db):
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)

    response = client.get("/admin/", **bearer(ApiToken.issue(staff)[1]))

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- production settings -------------------------------------------------------------------------------------------


def _check_deploy(**env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", ALLOWED_HOSTS="example.com", **env)
    return run_python(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=environment, timeout=120, check=False
    )


def test_production_settings_pass_the_deployment_checklist():
    result = _check_deploy(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(64))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_the_deployment_checklist_does_flag_debug_and_a_weak_key():
    """The check above is live: the same run flags what production must not have."""
    result = _check_deploy(DJANGO_DEBUG="1", DJANGO_SECRET_KEY="short")

    assert result.returncode != 0
    assert "security.W018" in result.stderr and "security.W009" in result.stderr


# --- rate limiting ---------------------------------------------------------------------------------------------------

MID_MINUTE = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def limit_of_five(settings):
    settings.COMMAND_RATE_LIMIT_PER_MINUTE = 5
    with time_machine.travel(MID_MINUTE, tick=False) as traveller:
        yield traveller


def _submit(api, token: str, ticket_id: int = 1):
    return api.client.post(
        "/api/v1/commands",
        data=json.dumps({"type": "ticket.start", "ticket_id": ticket_id}),
        content_type="application/json",
        **bearer(token),
    )


def test_the_sixth_command_in_a_minute_is_refused_with_retry_after(api, technician, limit_of_five):
    token = api.token(technician)

    accepted = [_submit(api, token, n).status_code for n in range(1, 6)]
    refused = _submit(api, token, 6)

    assert accepted == [202] * 5
    body = assert_problem(refused, 429, "rate_limited")
    assert refused["Content-Type"] == PROBLEM_JSON and body["status"] == 429
    retry_after = refused["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert int(retry_after) == 31  # what is left of the minute, rounded up
    assert Command.objects.count() == 5


def test_another_token_is_not_limited_by_the_first(api, technician, other_technician, limit_of_five):
    token, same_user, other_user = api.token(technician), ApiToken.issue(technician)[1], api.token(other_technician)
    for n in range(1, 7):
        _submit(api, token, n)
    assert _submit(api, token, 7).status_code == 429

    assert [_submit(api, same_user, n).status_code for n in range(1, 6)] == [202] * 5
    assert [_submit(api, other_user, n).status_code for n in range(1, 6)] == [202] * 5


def test_reads_are_not_limited(api, technician, limit_of_five):
    token = api.token(technician)
    for n in range(1, 7):
        _submit(api, token, n)

    reads = [api.client.get(path, **bearer(token)).status_code for path in ["/api/v1/commands", "/api/v1/tickets"] * 10]

    assert reads == [200] * 20
    assert _submit(api, token, 8).status_code == 429


def test_the_limit_starts_again_the_next_minute(api, technician, limit_of_five):
    token = api.token(technician)
    for n in range(1, 7):
        _submit(api, token, n)

    limit_of_five.shift(timedelta(seconds=31))

    assert _submit(api, token, 9).status_code == 202
