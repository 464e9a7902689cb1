"""A storm of random valid and invalid commands from 64 concurrent clients: every outcome is a contract outcome,
and the data's invariants hold afterwards."""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.audit.invariants import find_violations
from apps.commands.models import Command
from apps.common.time import utc_now
from tests.support.api import LiveClient
from tests.support.builders import assigned_tickets
from tests.support.factories import TechnicianFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REJECTION_CODES = {
    "not_found", "forbidden", "invalid_transition", "review_required", "not_assigned_technician",
    "active_ticket_exists", "technician_busy", "no_open_session", "session_not_stopped",
    "pause_budget_exhausted", "invalid_part", "validation_error",
}  # fmt: skip
HTTP_OUTCOMES = {200, 202, 400, 403, 413, 415, 422}
TICKET_COMMANDS = [
    "ticket.start", "ticket.to_waiting_qc", "ticket.qc_pass", "ticket.qc_fail", "ticket.approve_review",
    "work_session.start", "work_session.pause", "work_session.resume", "work_session.stop",
    "ticket.clear_manual_metrics",
]  # fmt: skip


def random_body(rng: random.Random, ticket_ids: list[int], technician_ids: list[int]) -> dict:
    roll = rng.random()
    ticket_id = rng.choice(ticket_ids) if rng.random() < 0.9 else rng.randint(10**6, 10**7)
    if roll < 0.70:
        return {"type": rng.choice(TICKET_COMMANDS), "ticket_id": ticket_id}
    if roll < 0.78:
        return {"type": "ticket.assign", "ticket_id": ticket_id, "technician_id": rng.choice(technician_ids)}
    if roll < 0.84:
        return {"type": "ticket.set_manual_metrics", "ticket_id": ticket_id, "flag_color": "red", "xp_amount": 7}
    if roll < 0.90:  # invalid shapes: refused at the door with 422
        return rng.choice(
            [
                {"type": "ticket.start"},
                {"type": "ticket.start", "ticket_id": "seven"},
                {"type": "no.such.command", "ticket_id": ticket_id},
                {"type": "work_session.pause", "ticket_id": ticket_id, "extra": True},
            ]
        )
    return {"type": rng.choice(TICKET_COMMANDS), "ticket_id": ticket_id, "note": "storm"}


def run_storm(live_server, people, settings, *, seconds: float, clients: int = 64) -> dict:
    settings.COMMAND_RATE_LIMIT_PER_MINUTE = 0  # the storm is about concurrency, not the rate limiter
    technicians = [people["tech"], *(TechnicianFactory() for _ in range(3))]
    tickets = assigned_tickets(6, admin=people["admin"], master=people["master"], technicians=technicians)
    ticket_ids = [ticket_id for ticket_id, _ in tickets]
    client_of = {user.pk: LiveClient.of(live_server.url, user) for user in [*technicians, *people.values()]}
    senders = list(client_of.values())
    by_role = {
        "work_session": [client_of[t.pk] for t in technicians],
        "ticket.start": [client_of[t.pk] for t in technicians],
        "ticket.to_waiting_qc": [client_of[t.pk] for t in technicians],
        "ticket.qc_pass": [client_of[people["qc"].pk]],
        "ticket.qc_fail": [client_of[people["qc"].pk]],
    }
    technician_ids = [t.pk for t in technicians]

    statuses: Counter = Counter()
    accepted: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            body = random_body(rng, ticket_ids, technician_ids)
            kind = str(body.get("type", ""))
            fitting = by_role.get(kind) or by_role.get(kind.split(".")[0]) or [client_of[people["admin"].pk]]
            # Mostly someone whose role fits the command; sometimes anyone at all.
            sender = rng.choice(fitting) if rng.random() < 0.75 else rng.choice(senders)
            response = sender.command(body)
            with lock:
                statuses[response.status_code] += 1
                if response.status_code in (200, 202):
                    accepted.append(response.json()["id"])

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client_loop, range(clients)))

    deadline = time.monotonic() + 300  # a 60-second storm on a busy 2-core machine leaves a backlog to drain
    while Command.objects.filter(id__in=accepted, status="pending").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    outcomes = Counter(Command.objects.filter(id__in=accepted).values_list("status", flat=True))
    codes = Counter(Command.objects.filter(id__in=accepted, status="rejected").values_list("error_code", flat=True))
    return {"http": statuses, "accepted": len(accepted), "outcomes": outcomes, "codes": codes}


def assert_storm_weathered(figures: dict) -> None:
    print("storm figures:", figures)
    assert set(figures["http"]) <= HTTP_OUTCOMES, figures["http"]  # never a 5xx, never an undocumented status
    assert figures["accepted"] > 100
    assert set(figures["outcomes"]) <= {"succeeded", "rejected"}, figures["outcomes"]
    assert figures["outcomes"]["succeeded"] > 0
    assert set(figures["codes"]) <= REJECTION_CODES, figures["codes"]
    assert find_violations(now=utc_now()) == []


def test_a_short_storm_leaves_only_contract_outcomes_and_clean_data(worker, live_server, people, settings):
    assert_storm_weathered(run_storm(live_server, people, settings, seconds=15))


@pytest.mark.fault
def test_a_sixty_second_storm_leaves_only_contract_outcomes_and_clean_data(worker, live_server, people, settings):
    assert_storm_weathered(run_storm(live_server, people, settings, seconds=60))
