"""Nothing is lost or applied twice when the worker is SIGKILLed or Redis forgets its queues."""

import time

import pytest
import redis
from django.conf import settings

from apps.accounts.models import ApiToken
from apps.commands.models import Command
from apps.ticket.models import TicketTransition, WorkSessionTransition
from tests.e2e.builders import assigned_tickets
from tests.e2e.conftest import Client
from tests.processes import Beat

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEPS = ["ticket.start", "work_session.pause", "work_session.resume", "work_session.stop", "ticket.to_waiting_qc"]


def submit_lives(live_server, tickets) -> list[str]:
    clients = {tech.pk: Client(live_server.url, ApiToken.issue(tech)[1]) for _, tech in tickets}
    ids = []
    for command_type in STEPS:
        for ticket_id, tech in tickets:
            response = clients[tech.pk].command({"type": command_type, "ticket_id": ticket_id})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    return ids


def count_final(ids) -> int:
    return Command.objects.filter(id__in=ids).exclude(status="pending").count()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_every_life_applied_once(tickets, ids):
    statuses = list(Command.objects.filter(id__in=ids).values_list("status", flat=True))
    assert statuses.count("succeeded") == len(ids), {s: statuses.count(s) for s in set(statuses)}
    for ticket_id, _ in tickets:
        actions = list(TicketTransition.domain.history_for_ticket(ticket_id).values_list("action", flat=True))
        assert actions == ["created", "review_approved", "assigned", "started", "to_waiting_qc"]
        session = list(
            WorkSessionTransition.objects.filter(session__ticket_id=ticket_id)
            .order_by("event_at", "id")
            .values_list("action", flat=True)
        )
        assert session == ["started", "paused", "resumed", "stopped"]


def test_a_worker_killed_mid_backlog_loses_and_doubles_nothing(worker, live_server, people):
    tickets = assigned_tickets(40, admin=people["admin"], master=people["master"])
    worker.kill()
    ids = submit_lives(live_server, tickets)  # 200 commands waiting in Redis
    assert count_final(ids) == 0

    worker.start()
    wait_for(lambda: count_final(ids) >= 40, 60, "the worker to get going")
    worker.kill()  # SIGKILL mid-backlog: in-flight transactions roll back, reserved messages are stranded
    stranded = len(ids) - count_final(ids)
    assert stranded > 0

    beat = Beat().start()  # the stale-command sweep re-queues what the dead worker held
    try:
        worker.start()
        wait_for(lambda: count_final(ids) == len(ids), 90, "every command to be final")
    finally:
        beat.stop()
    assert_every_life_applied_once(tickets, ids)


def test_commands_survive_redis_forgetting_its_queues(worker, live_server, people):
    tickets = assigned_tickets(10, admin=people["admin"], master=people["master"])
    worker.kill()
    ids = submit_lives(live_server, tickets)
    # The test suite's own Redis database only: FLUSHALL would also wipe a developer's running stack.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    beat = Beat().start()
    try:
        worker.start()
        wait_for(lambda: count_final(ids) == len(ids), 90, "the sweep to re-queue and apply every command")
    finally:
        beat.stop()
    assert_every_life_applied_once(tickets, ids)
