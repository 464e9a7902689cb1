"""Operations endpoints, the OpenAPI document, and 404 for paths the API does not have."""

import json

import pytest

from apps.commands.registry import PUBLIC_TYPES
from tests.support.assertions import assert_problem


def test_healthz_answers_ok_without_a_token(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_postgresql_and_redis_answer(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


@pytest.fixture
def openapi(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_openapi_document_documents_every_path_family(openapi):
    assert openapi["openapi"].startswith("3.")
    paths = set(openapi["paths"])
    for path in [
        "/api/v1/commands",
        "/api/v1/commands/{command_id}",
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/tickets/{ticket_id}/transitions",
        "/api/v1/tickets/{ticket_id}/work-sessions",
        "/api/v1/technicians/{technician_id}/pause-budget",
        "/api/v1/technicians/{technician_id}/xp",
        "/api/v1/inventory-items",
        "/api/v1/inventory-items/{item_id}",
        "/api/v1/inventory-items/{item_id}/parts",
        "/api/v1/rules",
    ]:
        assert path in paths, sorted(paths)


def test_the_command_body_is_documented_as_one_variant_per_command_type(openapi):
    body = openapi["paths"]["/api/v1/commands"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    components = openapi["components"]["schemas"]

    def resolved(node):
        return components[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    variants = {resolved(v)["properties"]["type"]["enum"][0]: resolved(v) for v in schema["oneOf"]}
    assert set(variants) == set(PUBLIC_TYPES)
    assert schema["discriminator"]["propertyName"] == "type"
    create = variants["ticket.create"]
    assert {"type", "inventory_item_id", "part_specs"} <= set(create["required"])
    assert {"title", "actor_id"} <= set(create["properties"]) - set(create["required"])
    spec = resolved(create["properties"]["part_specs"]["items"])
    assert spec["properties"]["minutes"]["maximum"] == 10080
    assert set(spec["properties"]["color"]["enum"]) == {"green", "yellow", "red"}
    assert set(variants["ticket.assign"]["required"]) == {"type", "ticket_id", "technician_id"}
    assert "note" in variants["ticket.qc_fail"]["properties"]


def test_every_reference_in_the_openapi_document_resolves(openapi):
    schemas = openapi.get("components", {}).get("schemas", {})
    refs = []

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(openapi)
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[-1] in schemas, ref


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/ticket",
        "/api/v1/tickets/abc",
        "/api/v1/tickets/1/parts",
        "/api/v1/commands/1/retry",
        "/api/v1/technicians/1",
        "/api/v1/inventory-items/1/widgets",
        "/api/v2/tickets",
    ],
)
def test_a_path_the_api_does_not_have_is_not_found(api, nobody, path):
    assert_problem(api.get(path, nobody), 404, "not_found")
