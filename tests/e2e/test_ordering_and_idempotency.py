"""Ordering per ticket, idempotent submission and database-enforced races, through HTTP and a real worker."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.commands.models import Command
from apps.ticket.models import Ticket
from tests.support.api import LiveClient
from tests.support.builders import assigned_tickets
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory, TechnicianFactory
from tests.support.lives import LIFE_TICKET_ACTIONS, PAUSE_LIFE, PAUSE_LIFE_SESSIONS
from tests.support.records import session_actions, ticket_actions

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_until_all_final(ids, timeout=120) -> list[Command]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = Command.objects.filter(id__in=ids, status="pending").count()
        if pending == 0:
            return list(Command.objects.filter(id__in=ids).order_by("seq"))
        time.sleep(0.2)
    raise AssertionError(f"{pending} of {len(ids)} commands still pending after {timeout}s")


def test_commands_for_50_tickets_apply_in_submission_order(worker, live_server, people, clients):
    tickets = assigned_tickets(50, admin=people["admin"], master=people["master"])
    technician_clients = {tech.pk: LiveClient.of(live_server.url, tech) for _, tech in tickets}
    qc = clients["qc"]

    ids = []
    for command_type in [*PAUSE_LIFE, "ticket.qc_pass"]:  # interleaved: every ticket's step n before any step n+1
        for ticket_id, tech in tickets:
            client = qc if command_type == "ticket.qc_pass" else technician_clients[tech.pk]
            response = client.command({"type": command_type, "ticket_id": ticket_id})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])

    commands = wait_until_all_final(ids)
    assert len(commands) == 300
    assert {c.status for c in commands} == {"succeeded"}, [(c.type, c.error_code) for c in commands if c.error_code]
    for ticket_id, _ in tickets:
        lane = [c for c in commands if c.ticket_id == ticket_id]
        assert [c.type for c in lane] == [*PAUSE_LIFE, "ticket.qc_pass"]
        assert [c.finished_at for c in lane] == sorted(c.finished_at for c in lane)
        assert ticket_actions(ticket_id) == [*LIFE_TICKET_ACTIONS, "qc_pass"]
        assert session_actions(ticket_id) == PAUSE_LIFE_SESSIONS[0]
    assert Ticket.objects.filter(status="done").count() == 50


def test_a_replayed_request_returns_the_original_command(worker, clients, people):
    item = InventoryItemFactory()
    body = {"type": "ticket.create", "inventory_item_id": item.pk, "part_specs": []}
    first = clients["master"].command(body, key="create-1")
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    outcome = clients["master"].wait_final(first.json()["id"])
    assert outcome["status"] == "succeeded"

    replay = clients["master"].command(body, key="create-1")
    assert replay.status_code == 200  # finished by now: the replay reports the final state
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]

    reused = clients["master"].command({**body, "title": "another"}, key="create-1")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert Ticket.objects.filter(inventory_item=item).count() == 1


def test_twenty_identical_concurrent_requests_make_one_command_and_one_effect(worker, clients):
    item = InventoryItemFactory()
    body = {"type": "ticket.create", "inventory_item_id": item.pk, "title": "once", "part_specs": []}
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: clients["master"].command(body, key="storm"), range(20)))

    assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert Command.objects.filter(idempotency_key="storm").count() == 1
    clients["master"].wait_final(responses[0].json()["id"])
    assert Ticket.objects.filter(inventory_item=item).count() == 1


def test_ten_concurrent_starts_for_one_technician_let_exactly_one_through(worker, live_server, people):
    technician = TechnicianFactory()
    tickets = assigned_tickets(10, admin=people["admin"], master=people["master"], technicians=[technician])
    client = LiveClient.of(live_server.url, technician)
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda t: client.command({"type": "ticket.start", "ticket_id": t[0]}), tickets))
    commands = wait_until_all_final([r.json()["id"] for r in responses])

    outcomes = sorted((c.status, c.error_code) for c in commands)
    assert outcomes == [("rejected", "technician_busy")] * 9 + [("succeeded", "")]
    assert Ticket.objects.filter(status="in_progress").count() == 1


def test_two_concurrent_creates_for_one_item_make_one_ticket(worker, clients):
    item = InventoryItemFactory()
    part = InventoryItemPartFactory(inventory_item=item)
    body = {
        "type": "ticket.create",
        "inventory_item_id": item.pk,
        "part_specs": [{"inventory_item_part_id": part.pk, "color": "red", "minutes": 90}],
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda _: clients["master"].command(body), range(2)))
    commands = wait_until_all_final([r.json()["id"] for r in responses])

    assert sorted((c.status, c.error_code) for c in commands) == [
        ("rejected", "active_ticket_exists"),
        ("succeeded", ""),
    ]
    assert Ticket.objects.filter(inventory_item=item).count() == 1
