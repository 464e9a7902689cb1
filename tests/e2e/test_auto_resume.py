"""The pause budget is enforced on time, and accounted exactly, whatever happens to the messages."""

import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import redis
from celery import current_app
from django.conf import settings

from apps.common.tasks import TaskName
from apps.common.time import isoformat_utc, utc_now
from apps.ticket.models import WorkSession, WorkSessionTransition
from tests.support.builders import assigned_tickets
from tests.support.clock import first_pause_runs_out
from tests.support.processes import Beat, running, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BUDGET = 3


@pytest.fixture
def paused_session(worker, clients, people):
    """A running ticket whose technician has a 3-second daily pause budget; `pause()` pauses it."""
    rules = clients["admin"].http.put(
        "/api/v1/rules",
        json={"config": {"work_session": {"daily_pause_limit_seconds": BUDGET}}, "reason": "short budget for tests"},
    )
    assert rules.status_code == 200, rules.text
    [(ticket_id, _)] = assigned_tickets(1, admin=people["admin"], master=people["master"], technicians=[people["tech"]])
    assert clients["tech"].run({"type": "ticket.start", "ticket_id": ticket_id})["status"] == "succeeded"

    def pause() -> tuple[int, int, datetime]:
        paused = clients["tech"].run({"type": "work_session.pause", "ticket_id": ticket_id})
        assert paused["status"] == "succeeded", paused
        session = paused["result"]["work_session"]
        return ticket_id, session["id"], datetime.fromisoformat(session["auto_resume_at"])

    return pause


def wait_running(session_id: int, timeout: float) -> datetime:
    """Wait for the session to run again; returns when that was seen."""
    wait_until(
        lambda: WorkSession.objects.filter(pk=session_id, status="running").exists(),
        what=f"session {session_id} to resume",
        timeout=timeout,
        interval=0.02,
    )
    return utc_now()


def auto_resumes(session_id: int) -> list[WorkSessionTransition]:
    return list(WorkSessionTransition.objects.filter(session_id=session_id, action="resumed"))


def assert_resumed_at_the_deadline(session_id: int, deadline: datetime):
    [resumed] = auto_resumes(session_id)
    assert resumed.event_at == deadline  # to the microsecond, however late the job ran
    assert resumed.actor_id is None
    assert resumed.metadata["auto_resumed"] is True
    assert resumed.metadata["reason"] == "daily_pause_limit_reached"
    assert resumed.metadata["scheduled_for"] == isoformat_utc(deadline)
    assert datetime.fromisoformat(resumed.metadata["applied_at"]) >= deadline


def test_a_spent_budget_resumes_the_session_on_time_and_exactly(paused_session, clients):
    ticket_id, session_id, deadline = paused_session()
    paused_at = WorkSessionTransition.objects.get(session_id=session_id, action="paused").event_at
    assert deadline == first_pause_runs_out(paused_at, timedelta(seconds=BUDGET))

    running_seen = wait_running(session_id, timeout=BUDGET + 5)
    assert running_seen - deadline <= timedelta(seconds=1)
    assert_resumed_at_the_deadline(session_id, deadline)

    stopped = clients["tech"].run({"type": "work_session.stop", "ticket_id": ticket_id})
    session = WorkSession.objects.get(pk=session_id)
    elapsed = (session.ended_at - session.started_at).total_seconds()
    assert session.active_seconds == Decimal(str(round(elapsed - BUDGET, 6)))
    assert stopped["result"]["work_session"]["active_seconds"] == float(session.active_seconds)


def test_a_worker_killed_before_the_deadline_resumes_it_at_restart(paused_session, worker):
    with running(Beat()):
        _, session_id, deadline = paused_session()
        worker.kill()  # the ETA message dies with it
        time.sleep(max(0.0, (deadline - utc_now()).total_seconds()) + 5)
        assert WorkSession.objects.get(pk=session_id).status == "paused"
        worker.start()
        wait_running(session_id, timeout=15)
    assert_resumed_at_the_deadline(session_id, deadline)


def test_a_flushed_redis_still_resumes_on_time_through_the_sweep(paused_session):
    _, session_id, deadline = paused_session()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # the queued ETA message is gone
    with running(Beat()):
        wait_running(session_id, timeout=BUDGET + 15)
    assert_resumed_at_the_deadline(session_id, deadline)


def test_a_duplicated_eta_message_resumes_once(paused_session):
    _, session_id, deadline = paused_session()
    for _ in range(2):
        current_app.send_task(
            TaskName.AUTO_RESUME,
            args=[session_id, isoformat_utc(deadline)],
            eta=deadline,
            queue=settings.CELERY_QUEUE_TIMERS,
        )
    wait_running(session_id, timeout=BUDGET + 5)
    time.sleep(1.5)  # let every copy run
    assert len(auto_resumes(session_id)) == 1


def test_two_beats_at_once_still_resume_once(paused_session):
    _, session_id, deadline = paused_session()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # leave it to the sweeps alone
    with running(*(Beat(name=f"beat-{n}-{settings.RUN_ID}") for n in range(2))):
        wait_running(session_id, timeout=BUDGET + 15)
        time.sleep(3)  # several sweep rounds from both beats
    assert_resumed_at_the_deadline(session_id, deadline)
