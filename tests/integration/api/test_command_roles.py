"""Who may submit which command: API.md's table, written out here rather than read from the registry."""

import pytest

from apps.commands.models import Command
from apps.commands.registry import PUBLIC_TYPES
from tests.support.assertions import assert_problem
from tests.support.contract import COMMAND_BODIES
from tests.support.factories import UserFactory

# Copied from API.md "Command types" → "allowed roles".
ALLOWED_ROLES = {
    "ticket.create": {"master", "admin"},
    "ticket.approve_review": {"admin"},
    "ticket.assign": {"master", "admin"},
    "ticket.start": {"technician"},
    "ticket.to_waiting_qc": {"technician"},
    "ticket.qc_pass": {"qc_inspector", "admin"},
    "ticket.qc_fail": {"qc_inspector", "admin"},
    "ticket.set_part_specs": {"master", "admin"},
    "ticket.set_manual_metrics": {"admin"},
    "ticket.clear_manual_metrics": {"admin"},
    "work_session.start": {"technician"},
    "work_session.pause": {"technician"},
    "work_session.resume": {"technician"},
    "work_session.stop": {"technician"},
    "xp.adjust": {"admin"},
}

ROLES = ["admin", "master", "technician", "qc_inspector", None]
MATRIX = [
    pytest.param(command_type, role, role in allowed, id=f"{command_type}-{role or 'no_role'}")
    for command_type, allowed in ALLOWED_ROLES.items()
    for role in ROLES
]


@pytest.fixture
def user_with(db):
    return lambda role: UserFactory(roles=[role] if role else [])


def test_the_table_covers_exactly_the_public_command_types():
    assert set(ALLOWED_ROLES) == set(PUBLIC_TYPES) == set(COMMAND_BODIES)


@pytest.mark.parametrize(("command_type", "role", "allowed"), MATRIX)
def test_a_role_may_submit_a_command_type_only_if_the_contract_allows_it(api, user_with, command_type, role, allowed):
    user = user_with(role)

    response = api.command(user, {"type": command_type, **COMMAND_BODIES[command_type]})

    if allowed:
        assert response.status_code == 202, response.content
        assert response.json()["type"] == command_type
        assert Command.objects.filter(type=command_type, submitter=user).count() == 1
    else:
        assert_problem(response, 403, "forbidden")
        assert not Command.objects.exists()


def test_a_user_holding_several_roles_may_submit_what_any_of_them_allows(api, db):
    user = UserFactory(roles=["technician", "qc_inspector"])

    assert api.command(user, {"type": "work_session.pause", "ticket_id": 1}).status_code == 202
    assert api.command(user, {"type": "ticket.qc_pass", "ticket_id": 1}).status_code == 202
    assert_problem(api.command(user, {"type": "ticket.assign", "ticket_id": 1, "technician_id": 2}), 403, "forbidden")
