"""401 unauthenticated on every /api/v1 path family; the schema and the docs stay open."""

import json
import uuid

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from tests.support.assertions import assert_problem

# No such command. Fixed, not random: every pytest-xdist worker must collect the same test ids.
COMMAND_ID = uuid.UUID("7ad30f32-de41-4e6a-9ea6-99de2bbbcb7a")
PROTECTED = [
    ("POST", "/api/v1/commands", {"type": "ticket.start", "ticket_id": 1}),
    ("GET", "/api/v1/commands", None),
    ("GET", f"/api/v1/commands/{COMMAND_ID}", None),
    ("GET", "/api/v1/tickets", None),
    ("GET", "/api/v1/tickets/1", None),
    ("GET", "/api/v1/tickets/1/transitions", None),
    ("GET", "/api/v1/tickets/1/work-sessions", None),
    ("GET", "/api/v1/technicians/1/pause-budget", None),
    ("GET", "/api/v1/technicians/1/xp", None),
    ("GET", "/api/v1/inventory-items", None),
    ("POST", "/api/v1/inventory-items", {"serial_number": "SN-1", "name": "Bike"}),
    ("GET", "/api/v1/inventory-items/1", None),
    ("GET", "/api/v1/inventory-items/1/parts", None),
    ("POST", "/api/v1/inventory-items/1/parts", {"name": "chain"}),
    ("GET", "/api/v1/rules", None),
    ("PUT", "/api/v1/rules", {"config": {}, "reason": "x"}),
]


def _revoked_token(user) -> str:
    token, raw = ApiToken.issue(user)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return f"Bearer {raw}"


CREDENTIALS = {
    "missing": lambda user: None,
    "unknown_token": lambda user: "Bearer tf_not-a-token-anyone-was-issued",
    "empty_bearer": lambda user: "Bearer ",
    "wrong_scheme": lambda user: f"Basic {ApiToken.issue(user)[1]}",
    "revoked_token": _revoked_token,
}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_api_path_refuses_a_request_without_a_valid_token(client, admin, method, path, body, credential):
    header = CREDENTIALS[credential](admin)
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    if body is None:
        response = client.generic(method, path, **extra)
    else:
        response = client.generic(method, path, data=json.dumps(body), content_type="application/json", **extra)

    assert_problem(response, 401, "unauthenticated")


def test_a_token_of_a_deactivated_user_is_refused(api, technician):
    token = api.token(technician)
    technician.is_active = False
    technician.save(update_fields=["is_active"])

    response = api.client.get("/api/v1/tickets", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_problem(response, 401, "unauthenticated")


def test_a_valid_token_is_accepted_and_a_revoked_one_of_the_same_user_is_not(api, technician):
    good = api.get("/api/v1/tickets", technician)
    revoked = api.client.get("/api/v1/tickets", HTTP_AUTHORIZATION=_revoked_token(technician))

    assert good.status_code == 200
    assert_problem(revoked, 401, "unauthenticated")


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_schema_and_the_docs_need_no_token(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
