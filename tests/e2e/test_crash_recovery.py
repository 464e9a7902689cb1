"""Nothing is lost or applied twice when the worker is SIGKILLed or Redis forgets its queues."""

import pytest
import redis
from django.conf import settings

from apps.commands.models import Command
from tests.support.api import LiveClient
from tests.support.builders import assigned_tickets
from tests.support.lives import LIFE_TICKET_ACTIONS, PAUSE_LIFE, PAUSE_LIFE_SESSIONS
from tests.support.processes import Beat, running, wait_until
from tests.support.records import session_actions, ticket_actions

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def submit_lives(live_server, tickets) -> list[str]:
    clients = {tech.pk: LiveClient.of(live_server.url, tech) for _, tech in tickets}
    ids = []
    for command_type in PAUSE_LIFE:
        for ticket_id, tech in tickets:
            response = clients[tech.pk].command({"type": command_type, "ticket_id": ticket_id})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    return ids


def count_final(ids) -> int:
    return Command.objects.filter(id__in=ids).exclude(status="pending").count()


def recover_with_beat(worker, ids, what: str) -> None:
    """Beat's stale-command sweep re-queues what the worker lost; the restarted worker applies every command."""
    with running(Beat()):
        worker.start()
        wait_until(lambda: count_final(ids) == len(ids), what=what, timeout=90, interval=0.1)


def assert_every_life_applied_once(tickets, ids):
    statuses = list(Command.objects.filter(id__in=ids).values_list("status", flat=True))
    assert statuses.count("succeeded") == len(ids), {s: statuses.count(s) for s in set(statuses)}
    for ticket_id, _ in tickets:
        assert ticket_actions(ticket_id) == LIFE_TICKET_ACTIONS
        assert session_actions(ticket_id) == PAUSE_LIFE_SESSIONS[0]


def test_a_worker_killed_mid_backlog_loses_and_doubles_nothing(worker, live_server, people):
    tickets = assigned_tickets(40, admin=people["admin"], master=people["master"])
    worker.kill()
    ids = submit_lives(live_server, tickets)  # 200 commands waiting in Redis
    assert count_final(ids) == 0

    # Not waiting for the worker to answer a ping: it answers once busy with the backlog, and a fast host has
    # drained all 200 commands by then (CI once found nothing left to strand). Killed once it has applied a few.
    worker.start(wait=False)
    wait_until(lambda: count_final(ids) >= 5, what="the worker to get going", timeout=60, interval=0.01)
    worker.kill()  # SIGKILL mid-backlog: in-flight transactions roll back, reserved messages are stranded
    stranded = len(ids) - count_final(ids)
    assert stranded > 0

    recover_with_beat(worker, ids, "every command to be final")
    assert_every_life_applied_once(tickets, ids)


def test_commands_survive_redis_forgetting_its_queues(worker, live_server, people):
    tickets = assigned_tickets(10, admin=people["admin"], master=people["master"])
    worker.kill()
    ids = submit_lives(live_server, tickets)
    # The test suite's own Redis database only: FLUSHALL would also wipe a developer's running stack.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    recover_with_beat(worker, ids, "the sweep to re-queue and apply every command")
    assert_every_life_applied_once(tickets, ids)
