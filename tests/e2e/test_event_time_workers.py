"""Event time with real worker processes: a backlog applied late, and workers whose host clocks disagree, still
record every instant at its press (PostgreSQL's clock when the command was stored)."""

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from apps.commands.models import Command
from apps.ticket.models import WorkSession
from tests.support.builders import assigned_tickets
from tests.support.processes import Worker, process_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def _queue(name: str) -> str:
    return f"test-{settings.RUN_ID}-{name}"


def _skewed_env(offset: str) -> dict[str, str]:
    """A child environment whose wall clock runs `offset` (e.g. "+5s") from the real one (libfaketime)."""
    return process_env(LD_PRELOAD=str(LIBFAKETIME), FAKETIME=offset, FAKETIME_DONT_FAKE_MONOTONIC="1")


def _clock_offset(env: dict[str, str]) -> float:
    """How far the wall clock of a process started with `env` is from this one's, in seconds."""
    probe = "import time; print(time.time())"
    before = time.time()
    theirs = float(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=True).stdout)
    return theirs - (before + time.time()) / 2


def _final(command_ids: list[str], timeout: float = 60) -> list[Command]:
    wait_until(
        lambda: not Command.objects.filter(id__in=command_ids, status="pending").exists(),
        what="commands applied",
        timeout=timeout,
    )
    by_id = {str(c.id): c for c in Command.objects.filter(id__in=command_ids)}
    return [by_id[command_id] for command_id in command_ids]


def _session_instants(ticket_id: int) -> list[tuple[str, datetime]]:
    session = WorkSession.objects.get(ticket_id=ticket_id)
    return list(session.transitions.order_by("event_at", "id").values_list("action", "event_at"))


@pytest.fixture
def skewed_workers():
    """Two workers, each on a queue of its own: one whose host clock runs 5 s ahead, one 5 s behind."""
    ahead = Worker(f"skew-ahead-{settings.RUN_ID}", env=_skewed_env("+5s"), queues=[_queue("ahead")], concurrency=1)
    behind = Worker(f"skew-behind-{settings.RUN_ID}", env=_skewed_env("-5s"), queues=[_queue("behind")], concurrency=1)
    ahead.start(), behind.start()
    yield {"ahead": ahead, "behind": behind}
    ahead.stop(), behind.stop()


def test_workers_whose_clocks_disagree_record_one_monotonic_history_at_the_presses(
    live_server, people, clients, skewed_workers
):
    assert _clock_offset(_skewed_env("+5s")) == pytest.approx(5, abs=1)
    assert _clock_offset(_skewed_env("-5s")) == pytest.approx(-5, abs=1)
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    life = ["ticket.start", "work_session.pause", "work_session.resume", "work_session.pause"]
    life += ["work_session.resume", "work_session.stop"]

    submitted = []
    for index, command_type in enumerate(life):
        worker = "ahead" if index % 2 == 0 else "behind"
        with override_settings(CELERY_QUEUE_COMMANDS=_queue(worker)):
            response = clients["tech"].command({"type": command_type, "ticket_id": ticket_id}, wait=15)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "succeeded", body["error"]
        submitted.append((worker, body["id"]))
        time.sleep(0.3)

    commands = _final([command_id for _, command_id in submitted])
    for (worker, command_id), command in zip(submitted, commands, strict=True):
        assert command_id in skewed_workers[worker].log_path.read_text(), f"{command.type} not applied by {worker}"
        assert command.effective_at == command.occurred_at == command.submitted_at
    instants = [at for _, at in _session_instants(ticket_id)]
    assert instants == [command.submitted_at for command in commands]
    assert instants == sorted(instants)


def test_a_backlog_applied_twenty_seconds_late_is_recorded_at_its_presses(live_server, people, clients):
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    life = ["ticket.start", "work_session.pause", "work_session.resume", "work_session.pause"]
    life += ["work_session.resume", "work_session.stop"]
    backlog = _queue("backlog")

    ids = []
    with override_settings(CELERY_QUEUE_COMMANDS=backlog):  # no worker listens yet
        for command_type in life:
            response = clients["tech"].command({"type": command_type, "ticket_id": ticket_id})
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
            time.sleep(0.6)  # six presses over three seconds
    time.sleep(20)
    worker = Worker(f"backlog-{settings.RUN_ID}", queues=[backlog], concurrency=1).start()
    try:
        commands = _final(ids)
    finally:
        worker.stop()

    assert [c.status for c in commands] == ["succeeded"] * len(life), [c.error_message for c in commands]
    assert all((c.finished_at - c.submitted_at).total_seconds() > 20 for c in commands)
    recorded = _session_instants(ticket_id)
    assert [at for _, at in recorded] == [c.submitted_at for c in commands]
    assert all(c.effective_at == c.submitted_at for c in commands)
    session = WorkSession.objects.get(ticket_id=ticket_id)
    pressed = [c.submitted_at for c in commands]
    as_if_no_delay = (pressed[1] - pressed[0]) + (pressed[3] - pressed[2]) + (pressed[5] - pressed[4])
    assert float(session.active_seconds) == as_if_no_delay.total_seconds()
