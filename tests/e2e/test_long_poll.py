"""`Prefer: wait=N` answers 200 with the final command once a worker has applied it."""

import statistics
import time

import pytest

from tests.support.builders import assigned_tickets
from tests.support.logs import write_figures

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_prefer_wait_returns_the_final_command(worker, live_server, people, clients):
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    tech = clients["tech"]
    started = tech.command({"type": "ticket.start", "ticket_id": ticket_id}, wait=5)
    assert started.status_code == 200 and started.json()["status"] == "succeeded"
    assert started.headers["Preference-Applied"] == "wait=5"

    timings = []
    for index in range(200):
        command_type = "work_session.pause" if index % 2 == 0 else "work_session.resume"
        begin = time.perf_counter()
        response = tech.command({"type": command_type, "ticket_id": ticket_id}, wait=5)
        timings.append((time.perf_counter() - begin) * 1000)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded", body["error"]
        assert body["result"]["work_session"]["status"] == ("paused" if index % 2 == 0 else "running")

    timings.sort()
    figures = {
        "commands": len(timings),
        "median_ms": round(statistics.median(timings), 1),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 1),
        "max_ms": round(timings[-1], 1),
    }
    write_figures("long-poll-figures", figures)  # Prefer: wait=5, submit → 200


def test_prefer_wait_gives_up_with_202_when_nothing_applies_it(live_server, clients, people):
    # No worker fixture here: nothing consumes the queue, so the wait runs out and the answer is still 202.
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    from django.test import override_settings

    with override_settings(CELERY_QUEUE_COMMANDS="nobody-listens"):
        begin = time.monotonic()
        response = clients["tech"].command({"type": "ticket.start", "ticket_id": ticket_id}, wait=1)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert 0.9 <= time.monotonic() - begin < 5
