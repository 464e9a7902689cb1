"""The client an upstream developer generates from the served OpenAPI document (openapi-python-client) drives one
ticket's whole life against the live server and a real worker, through its typed functions and models."""

import importlib
import os
import sys
import time
from types import SimpleNamespace

import httpx
import pytest

from tests.support.factories import issue_token
from tests.support.processes import BIN, run_python

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PACKAGE = "ticketflow_client"  # openapi-python-client names it after the document's title


@pytest.fixture
def generated(live_server, tmp_path, monkeypatch):
    """The generated package's operations and models, imported from a temporary folder."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{live_server.url}/api/v1/openapi.json").raise_for_status().content)
    output = tmp_path / "client"
    # The generator formats its output with ruff (its post-hooks), found on PATH beside this interpreter.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = run_python(
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(document),
        "--output-path",
        str(output),
        env=env,
        timeout=120,
    )
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    package = output / PACKAGE
    assert not [path.name for path in package.rglob("apps_*")]  # no module named after this project's modules

    monkeypatch.syspath_prepend(str(output))
    yield SimpleNamespace(
        client=importlib.import_module(f"{PACKAGE}.client"),
        models=importlib.import_module(f"{PACKAGE}.models"),
        **{
            name: importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
            for tag, name in [
                ("commands", "submit_command"),
                ("commands", "get_command"),
                ("inventory", "create_inventory_item"),
                ("inventory", "create_inventory_item_part"),
                ("tickets", "get_ticket"),
                ("tickets", "list_ticket_work_sessions"),
                ("technicians", "get_technician_xp"),
            ]
        },
    )
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_a_generated_client_drives_a_ticket_through_its_life(worker, live_server, people, generated):
    gen, m = generated, generated.models
    admin, master, tech, qc = (
        gen.client.AuthenticatedClient(base_url=live_server.url, token=issue_token(people[role]), timeout=40)
        for role in ("admin", "master", "tech", "qc")
    )

    def run(client, body):
        """Submit, waiting for the outcome (`Prefer: wait`); poll getCommand if the server answered at once."""
        answer = gen.submit_command.sync_detailed(client=client, body=body, prefer="wait=10")
        command = answer.parsed
        assert isinstance(command, m.Command), answer.content
        deadline = time.monotonic() + 20
        while command.status == m.CommandStatus.PENDING and time.monotonic() < deadline:
            time.sleep(0.05)
            command = gen.get_command.sync(client=client, command_id=str(command.id))
        assert command.status == m.CommandStatus.SUCCEEDED, command.error
        return answer, command

    item = gen.create_inventory_item.sync(client=admin, body=m.NewInventoryItem(serial_number="GEN-1", name="Bike"))
    assert isinstance(item, m.InventoryItem), item
    brakes = gen.create_inventory_item_part.sync(
        client=master, item_id=item.id, body=m.NewInventoryItemPart(name="brakes")
    )
    assert isinstance(brakes, m.InventoryItemPart), brakes

    spec = m.NewPartSpec(inventory_item_part_id=brakes.id, color=m.NewPartSpecColor.YELLOW, minutes=45)
    create = m.TicketCreateCommand(
        type_=m.TicketCreateCommandType.TICKET_CREATE, inventory_item_id=item.id, title="Squeal", part_specs=[spec]
    )
    _, created = run(master, create)
    ticket_id = created.result.ticket.id
    tech_id = people["tech"].pk

    run(
        admin,
        m.TicketApproveReviewCommand(type_=m.TicketApproveReviewCommandType.TICKET_APPROVE_REVIEW, ticket_id=ticket_id),
    )
    run(
        master,
        m.TicketAssignCommand(
            type_=m.TicketAssignCommandType.TICKET_ASSIGN, ticket_id=ticket_id, technician_id=tech_id
        ),
    )
    run(tech, m.TicketStartCommand(type_=m.TicketStartCommandType.TICKET_START, ticket_id=ticket_id))
    _, paused = run(
        tech, m.WorkSessionPauseCommand(type_=m.WorkSessionPauseCommandType.WORK_SESSION_PAUSE, ticket_id=ticket_id)
    )
    assert paused.result.work_session.status == m.WorkSessionStatus.PAUSED
    run(tech, m.WorkSessionResumeCommand(type_=m.WorkSessionResumeCommandType.WORK_SESSION_RESUME, ticket_id=ticket_id))
    run(tech, m.WorkSessionStopCommand(type_=m.WorkSessionStopCommandType.WORK_SESSION_STOP, ticket_id=ticket_id))
    run(
        tech, m.TicketToWaitingQcCommand(type_=m.TicketToWaitingQcCommandType.TICKET_TO_WAITING_QC, ticket_id=ticket_id)
    )
    answer, passed = run(
        qc, m.TicketQcPassCommand(type_=m.TicketQcPassCommandType.TICKET_QC_PASS, ticket_id=ticket_id, note="fine")
    )
    assert answer.status_code == 200 and answer.headers["Preference-Applied"] == "wait=10"  # answered once final
    assert gen.get_command.sync(client=qc, command_id=str(passed.id)).status == m.CommandStatus.SUCCEEDED

    ticket = gen.get_ticket.sync(client=admin, ticket_id=ticket_id)
    assert isinstance(ticket, m.Ticket), ticket
    assert ticket.status == m.TicketStatus.DONE and ticket.technician_id == tech_id
    assert (ticket.total_duration, ticket.flag_color, ticket.xp_amount) == (45, m.TicketFlagColor.YELLOW, 3)
    sessions = gen.list_ticket_work_sessions.sync(client=admin, ticket_id=ticket_id)
    assert isinstance(sessions, m.WorkSessionPage), sessions
    assert [[t.action.value for t in s.transitions] for s in sessions.items] == [
        ["started", "paused", "resumed", "stopped"]
    ]

    xp = gen.get_technician_xp.sync(client=admin, technician_id=tech_id)
    assert isinstance(xp, m.TechnicianXp), xp
    assert sorted(entry.kind.value for entry in xp.entries) == ["ticket_base_xp", "ticket_first_pass_bonus"]
    assert xp.total == ticket.xp_amount + 1  # base XP plus the first-pass bonus
