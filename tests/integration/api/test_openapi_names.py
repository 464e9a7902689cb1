"""The names in the OpenAPI document: what a generated client calls its functions and classes."""

import json
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.commands.registry import PUBLIC_TYPES
from config.api import published_under_titles

LOWER_CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)*")
PASCAL_CASE = re.compile(r"(?:[A-Z][a-z0-9]*)+")

# Written out rather than derived: a renamed operation renames a function in every client generated from the API.
OPERATION_IDS = {
    ("post", "/api/v1/commands"): "submitCommand",
    ("get", "/api/v1/commands"): "listCommands",
    ("get", "/api/v1/commands/{command_id}"): "getCommand",
    ("get", "/api/v1/tickets"): "listTickets",
    ("get", "/api/v1/tickets/{ticket_id}"): "getTicket",
    ("get", "/api/v1/tickets/{ticket_id}/transitions"): "listTicketTransitions",
    ("get", "/api/v1/tickets/{ticket_id}/work-sessions"): "listTicketWorkSessions",
    ("get", "/api/v1/technicians/{technician_id}/pause-budget"): "getPauseBudget",
    ("get", "/api/v1/technicians/{technician_id}/xp"): "getTechnicianXp",
    ("post", "/api/v1/inventory-items"): "createInventoryItem",
    ("get", "/api/v1/inventory-items"): "listInventoryItems",
    ("get", "/api/v1/inventory-items/{item_id}"): "getInventoryItem",
    ("patch", "/api/v1/inventory-items/{item_id}"): "updateInventoryItem",
    ("post", "/api/v1/inventory-items/{item_id}/parts"): "createInventoryItemPart",
    ("get", "/api/v1/inventory-items/{item_id}/parts"): "listInventoryItemParts",
    ("get", "/api/v1/rules"): "getRules",
    ("put", "/api/v1/rules"): "changeRules",
    ("get", "/api/v1/rules/versions"): "listRulesVersions",
    ("post", "/api/v1/rules/rollback"): "rollbackRules",
    ("get", "/api/v1/events"): "listEvents",
    ("get", "/api/v1/analytics/technicians"): "getTechniciansAnalytics",
    ("get", "/api/v1/analytics/technicians/{technician_id}/days"): "getTechnicianDays",
    ("get", "/api/v1/analytics/tickets"): "getTicketsAnalytics",
    ("get", "/api/v1/analytics/leaderboard"): "getLeaderboard",
    ("post", "/api/v1/webhooks"): "createWebhook",
    ("get", "/api/v1/webhooks"): "listWebhooks",
    ("get", "/api/v1/webhooks/{webhook_id}"): "getWebhook",
    ("patch", "/api/v1/webhooks/{webhook_id}"): "updateWebhook",
    ("delete", "/api/v1/webhooks/{webhook_id}"): "deleteWebhook",
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"): "rotateWebhookSecret",
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): "listWebhookDeliveries",
    ("post", "/api/v1/webhooks/{webhook_id}/redeliver"): "redeliverWebhookEvents",
}

COMMAND_SCHEMAS = {
    "ticket.create": "TicketCreateCommand",
    "ticket.approve_review": "TicketApproveReviewCommand",
    "ticket.assign": "TicketAssignCommand",
    "ticket.start": "TicketStartCommand",
    "ticket.to_waiting_qc": "TicketToWaitingQcCommand",
    "ticket.qc_pass": "TicketQcPassCommand",
    "ticket.qc_fail": "TicketQcFailCommand",
    "ticket.set_part_specs": "TicketSetPartSpecsCommand",
    "ticket.set_manual_metrics": "TicketSetManualMetricsCommand",
    "ticket.clear_manual_metrics": "TicketClearManualMetricsCommand",
    "work_session.start": "WorkSessionStartCommand",
    "work_session.pause": "WorkSessionPauseCommand",
    "work_session.resume": "WorkSessionResumeCommand",
    "work_session.stop": "WorkSessionStopCommand",
    "xp.adjust": "XpAdjustCommand",
}


@pytest.fixture
def openapi(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(openapi):
    return {(method, path): operation for path, item in openapi["paths"].items() for method, operation in item.items()}


def _response_schema(operation, status: str) -> str:
    ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
    return ref.removeprefix("#/components/schemas/")


def test_every_operation_has_the_operation_id_a_person_would_write(openapi):
    ids = {key: operation.get("operationId") for key, operation in _operations(openapi).items()}

    assert ids == OPERATION_IDS
    assert all(LOWER_CAMEL_CASE.fullmatch(operation_id) for operation_id in ids.values()), ids
    assert len(set(ids.values())) == len(ids)


def test_schema_names_are_pascal_case_words_without_module_paths(openapi):
    names = set(openapi["components"]["schemas"])

    assert {"Command", "Ticket", "WorkSession", "Problem", "TicketCreateCommand", "WorkSessionPauseCommand"} <= names
    for name in names:
        assert PASCAL_CASE.fullmatch(name), name
        assert not name.startswith("Apps") and "Api" not in name, name
        assert not re.search(r"(In|Out|Filters|Query)$", name), name  # code-side names, not published ones


def test_each_public_command_type_has_a_body_schema_named_after_it(openapi):
    body = openapi["paths"]["/api/v1/commands"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = {f"#/components/schemas/{name}" for name in COMMAND_SCHEMAS.values()}

    assert set(COMMAND_SCHEMAS) == set(PUBLIC_TYPES)
    assert {variant["$ref"] for variant in body["oneOf"]} == refs
    assert body["discriminator"]["mapping"] == {
        command_type: f"#/components/schemas/{name}" for command_type, name in COMMAND_SCHEMAS.items()
    }
    for command_type, name in COMMAND_SCHEMAS.items():
        schema = openapi["components"]["schemas"][name]
        assert schema["title"] == name
        assert schema["properties"]["type"]["enum"] == [command_type]


def test_responses_name_the_resources_they_return(openapi):
    operations = _operations(openapi)

    submit = operations[("post", "/api/v1/commands")]
    assert (_response_schema(submit, "200"), _response_schema(submit, "202")) == ("Command", "Command")
    assert _response_schema(operations[("get", "/api/v1/tickets/{ticket_id}")], "200") == "Ticket"
    assert _response_schema(operations[("get", "/api/v1/tickets")], "200") == "TicketPage"
    assert _response_schema(operations[("get", "/api/v1/inventory-items/{item_id}")], "200") == "InventoryItem"
    assert _response_schema(operations[("get", "/api/v1/technicians/{technician_id}/xp")], "200") == "TechnicianXp"
    problem = submit["responses"]["429"]["content"]["application/problem+json"]["schema"]["$ref"]
    assert problem == "#/components/schemas/Problem"


def test_every_published_schema_is_used_by_an_operation(openapi):
    text = json.dumps(openapi["paths"]) + json.dumps(openapi["components"])

    for name in openapi["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text, name


def test_two_schemas_titled_alike_are_refused_rather_than_one_hiding_the_other():
    schema = {
        "paths": {},
        "components": {"schemas": {"TicketOut": {"title": "Ticket"}, "TicketRow": {"title": "Ticket"}}},
    }

    with pytest.raises(ImproperlyConfigured, match="Ticket"):
        published_under_titles(schema)
