"""Fuzzing the whole API from its own OpenAPI document with schemathesis, as an admin.

Every operation gets generated requests, valid and invalid (schemathesis' examples, coverage and fuzzing phases).
Each answer must not be a 5xx, must have a documented status and content type, and its body must match the
documented schema, problems included. The requests go in-process to Django's WSGI handler, on this test's database
connection, so each operation's requests share one transaction that is rolled back (nothing reaches a broker).
The figures (requests made, 5xx seen) go to var/test-logs/fuzz-figures.json.
"""

from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from apps.accounts.models import ApiToken, User
from apps.commands import waiting
from apps.commands.models import Command
from apps.commands.processing import drain_lane
from apps.inventory.models import InventoryItem
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket
from tests.support.builders import pending_command
from tests.support.factories import InventoryItemPartFactory
from tests.support.logs import write_figures

APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
GENERATED_ONLY = [schemathesis.checks.unsupported_method, schemathesis.checks.ignored_auth]
EXAMPLES_PER_OPERATION = 45
MIN_REQUESTS = 1000

requests_by_operation: Counter = Counter()
server_errors: Counter = Counter()


@pytest.fixture
def in_process_database(db, monkeypatch):
    """Let requests through the real WSGI handler share the test's connection and transaction.

    The handler closes "old" connections at each request's start and end; Django's own test client switches that
    off the same way. And a pending command never becomes final here, so `Prefer: wait` is capped at 0 s.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    monkeypatch.setattr(waiting, "MAX_WAIT_SECONDS", 0)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(in_process_database, shop, other_item):
    """An admin's token, on a shop with real rows for the reads to return: tickets in several states, a paused
    session, XP, parts, and commands that succeeded, were rejected, or are pending."""
    done = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=done.pk, actor=shop.inspector, at=shop.tick())
    parts = [InventoryItemPartFactory(inventory_item=other_item, name=n) for n in ("frame", "fork")]
    working = shop.started(item=other_item, parts=parts).ticket
    sessions.pause_work_session(ticket_id=working.pk, actor=shop.technician, at=shop.tick())
    for kind in ("work_session.resume", "work_session.resume", "work_session.pause"):
        pending_command(shop.technician, kind, submitter=shop.admin, at=shop.tick(), ticket_id=working.pk)
    drain_lane(f"ticket:{working.pk}")
    pending_command(shop.admin, "ticket.approve_review", at=shop.now - timedelta(seconds=1), ticket_id=done.pk)
    assert set(Command.objects.values_list("status", flat=True)) == {"succeeded", "rejected", "pending"}
    return ApiToken.issue(shop.admin)[1]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_generated_requests_as_documented(case, token):
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    requests_by_operation[case.operation.label] += 1
    if response.status_code >= 500:
        server_errors[case.operation.label] += 1

    case.validate_response(response, checks=CHECKS + GENERATED_ONLY, headers={"Authorization": f"Bearer {token}"})


def test_reads_of_real_resources_answer_200_as_documented(token):
    """Generated ids rarely name a real row, so read every seeded one explicitly and hold it to the schema."""
    auth = {"Authorization": f"Bearer {token}"}
    tickets = list(Ticket.objects.values_list("pk", flat=True))
    reads = {
        "/api/v1/tickets/{ticket_id}": [{"ticket_id": pk} for pk in tickets],
        "/api/v1/tickets/{ticket_id}/transitions": [{"ticket_id": pk} for pk in tickets],
        "/api/v1/tickets/{ticket_id}/work-sessions": [{"ticket_id": pk} for pk in tickets],
        "/api/v1/commands/{command_id}": [{"command_id": str(c)} for c in Command.objects.values_list("id", flat=True)],
        "/api/v1/inventory-items/{item_id}": [
            {"item_id": pk} for pk in InventoryItem.objects.values_list("pk", flat=True)
        ],
        "/api/v1/inventory-items/{item_id}/parts": [
            {"item_id": pk} for pk in InventoryItem.objects.values_list("pk", flat=True)
        ],
        "/api/v1/technicians/{technician_id}/xp": [
            {"technician_id": pk} for pk in User.objects.values_list("pk", flat=True)
        ],
        "/api/v1/technicians/{technician_id}/pause-budget": [
            {"technician_id": pk} for pk in User.objects.values_list("pk", flat=True)
        ],
    }
    assert len(tickets) == 2 and all(reads.values())
    for path, parameter_sets in reads.items():
        for parameters in parameter_sets:
            case = schema[path]["GET"].Case(path_parameters=parameters)
            response = case.call(headers=auth)

            assert response.status_code == 200, (path, parameters, response.text)
            case.validate_response(response, checks=CHECKS, headers=auth)


def test_the_fuzzing_made_at_least_a_thousand_requests_and_saw_no_server_error(capsys):
    """Runs after the fuzzing above (pytest keeps a module's order) and records its figures."""
    operations = {operation.ok().label for operation in schema.get_all_operations()}
    figures = {
        "requests": sum(requests_by_operation.values()),
        "server_errors": sum(server_errors.values()),
        "operations": len(operations),
        "examples_per_operation": EXAMPLES_PER_OPERATION,
        "requests_by_operation": dict(sorted(requests_by_operation.items())),
        "server_errors_by_operation": dict(sorted(server_errors.items())),
    }
    write_figures("fuzz-figures", figures, show=False)
    with capsys.disabled():
        print(
            f"\nfuzz: {figures['requests']} requests over {len(requests_by_operation)} operations, "
            f"{figures['server_errors']} server errors (var/test-logs/fuzz-figures.json)"
        )

    assert set(requests_by_operation) == operations, "run the whole module: every operation must be fuzzed first"
    assert figures["requests"] >= MIN_REQUESTS, figures
    assert figures["server_errors"] == 0, figures
