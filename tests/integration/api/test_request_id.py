"""X-Request-ID (API.md, Rules history): every response carries one, the caller's if it is 1..128 characters in
%x21-7E, else a new one; the log lines of that request carry it, and so do the worker's lines about the commands
it stored (tests/e2e/test_request_id_logs.py has the real worker)."""

import io
import json
import logging
import re
from contextlib import contextmanager

import pytest

from apps.commands.models import Command
from apps.commands.processing import drain_lane
from config.logging import JsonFormatter
from tests.support.assertions import assert_problem

NEW_ID = re.compile(r"[0-9a-f]{32}")
LOGGERS = ["ticketflow", "django.request"]


@contextmanager
def json_logs():
    """The records of the app's loggers and Django's request logger, formatted as production writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    records: list[dict] = []
    try:
        yield records
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        records += [json.loads(line) for line in stream.getvalue().splitlines()]


def header(response) -> str:
    return response["X-Request-ID"]


# --- the header -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["abc-123", "x", "!", "~", "r" * 128, "0f3c9e:upstream/7;try=2"])
def test_an_acceptable_id_sent_by_the_caller_is_echoed(api, nobody, sent):
    response = api.get("/api/v1/rules", nobody, HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert header(response) == sent


def test_without_one_each_response_gets_a_new_id(api, nobody):
    first, second = (header(api.get("/api/v1/rules", nobody)) for _ in range(2))

    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "sent",
    ["r" * 129, "has space", " leading", "tab\there", "", "caf\u00e9", "del\x7f"],
    ids=["129_chars", "space", "leading_space", "tab", "empty", "non_ascii", "del"],
)
def test_an_unacceptable_id_is_replaced_by_a_new_one(api, nobody, sent):
    response = api.get("/api/v1/rules", nobody, HTTP_X_REQUEST_ID=sent)

    assert response.status_code == 200
    assert NEW_ID.fullmatch(header(response)), header(response)


def test_errors_and_problems_carry_it_too(api, nobody, admin, monkeypatch):
    sent = {"HTTP_X_REQUEST_ID": "err-1"}
    answers = {
        "404 api": api.get("/api/v1/tickets/987654", nobody, **sent),
        "404 page": api.client.get("/no-such-page", **sent),
        "401": api.client.get("/api/v1/rules", **sent),
        "403": api.post("/api/v1/rules/rollback", {"version": 1}, nobody, **sent),
        "405": api.send("DELETE", "/api/v1/rules", {}, admin, **sent),
        "400": api.post("/api/v1/commands", "{not json", admin, **sent),
        "400 host": api.client.get("/healthz", HTTP_HOST="not-ours.example", **sent),  # refused by Django itself
        "422": api.command(admin, {"type": "xp.adjust", "technician_id": 1, "amount": 0, "reason": "r"}, **sent),
    }
    monkeypatch.setattr("apps.rules.api.rules_data", lambda row: 1 / 0)
    answers["500"] = api.get("/api/v1/rules", nobody, **sent)

    assert {name: (response.status_code, header(response)) for name, response in answers.items()} == {
        name: (int(name.split()[0]), "err-1") for name in answers
    }
    assert_problem(answers["500"], 500, "internal_error")


def test_the_operational_endpoints_carry_it(client, db):
    healthz = client.get("/healthz", HTTP_X_REQUEST_ID="probe-1")
    metrics = client.get("/metrics", HTTP_X_REQUEST_ID="scrape-1")
    readyz = client.get("/readyz")

    assert (healthz.status_code, header(healthz)) == (200, "probe-1")
    assert (metrics.status_code, header(metrics)) == (200, "scrape-1")
    assert NEW_ID.fullmatch(header(readyz))


# --- the logs ---------------------------------------------------------------------------------------------------


def test_the_log_lines_of_a_request_carry_its_id_and_later_lines_do_not(api, admin, technician):
    body = {"type": "xp.adjust", "technician_id": technician.pk, "amount": 3, "reason": "cover shift"}
    with json_logs() as records:
        response = api.command(admin, body, HTTP_X_REQUEST_ID="req-accept-1")
        logging.getLogger("ticketflow.api").info("after the request")

    assert response.status_code == 202, response.content
    accepted = [r for r in records if r["msg"] == "command accepted"]
    assert len(accepted) == 1 and accepted[0]["request_id"] == "req-accept-1"
    after = [r for r in records if r["msg"] == "after the request"]
    assert len(after) == 1 and "request_id" not in after[0]


def test_django_logs_a_server_error_under_the_requests_id(api, nobody, monkeypatch):
    monkeypatch.setattr("apps.rules.api.rules_data", lambda row: 1 / 0)
    with json_logs() as records:
        response = api.get("/api/v1/rules", nobody, HTTP_X_REQUEST_ID="req-crash-1")

    assert response.status_code == 500
    logged = [(r["logger"], r.get("request_id")) for r in records if r["level"] == "ERROR"]
    assert ("ticketflow.api", "req-crash-1") in logged  # the API's own record of the crash
    assert ("django.request", "req-crash-1") in logged  # Django's, written after the middleware chain returned


def test_the_command_keeps_the_id_and_the_lines_about_applying_it_carry_it(api, admin, technician):
    body = {"type": "xp.adjust", "technician_id": technician.pk, "amount": 3, "reason": "cover shift"}
    api.command(admin, body, HTTP_X_REQUEST_ID="req-apply-1")
    api.command(admin, {**body, "amount": 4})  # stored by a request that sent no id

    with json_logs() as records:
        assert drain_lane(f"technician:{technician.pk}") == 2

    commands = list(Command.objects.order_by("seq"))
    assert commands[0].request_id == "req-apply-1" and NEW_ID.fullmatch(commands[1].request_id)
    outcomes = {r["command_id"]: r.get("request_id") for r in records if r["msg"] == "command succeeded"}
    assert outcomes == {str(command.id): command.request_id for command in commands}
