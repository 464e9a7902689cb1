"""The scheduled enforcement in-process: the beat sweep and the ETA task submit system commands (on a frozen clock);
applying those commands resumes each session at its deadline. Queue messages are sent on commit, which a `db` test
never reaches, so no worker or broker is involved (the AUTO_RESUME_ETA test runs the on-commit callbacks against a
stubbed `send_task`)."""

from datetime import datetime

import pytest
from celery import current_app

from apps.accounts.models import SYSTEM_USERNAME
from apps.commands.models import Command
from apps.commands.processing import apply_next
from apps.commands.system import submit_auto_resume
from apps.common.tasks import TaskName
from apps.ticket import services_rules_change as rules_change
from apps.ticket import services_work_session as sessions
from apps.ticket.models import WorkSession
from tests.support.builders import another_workplace, working_since
from tests.support.clock import at_instant, frozen, nov26
from tests.support.records import reloaded
from tests.support.rules import use_rules
from tests.support.sessions import pause, resume, stop
from workers import timers


def sweep(when: datetime) -> int:
    with frozen(when):
        return timers.sweep_due_auto_resumes()


def eta_job(session: WorkSession, deadline: datetime, when: datetime) -> bool:
    with frozen(when):
        return timers.auto_resume(session.pk, deadline.isoformat().replace("+00:00", "Z"))


def auto_resume_commands():
    return Command.objects.filter(type="work_session.auto_resume").order_by("seq")


def apply_lane(lane: str, now: datetime) -> Command | None:
    return at_instant(now, lambda clock: apply_next(lane, now=clock))


@pytest.fixture
def three_paused(shop):
    """Three technicians, each with a paused session: due 10:30, 10:40 and 11:30 (limit 1800 s, UTC)."""
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    paused = []
    for index, pause_at in enumerate((nov26(10), nov26(10, 10), nov26(11))):
        if index == 0:
            technician, ticket = shop.technician, working_since(shop, nov26(9))
        else:
            technician, item, parts = another_workplace()
            ticket = working_since(shop, nov26(9, 10 * index), technician=technician, item=item, parts=parts)
        paused.append((ticket, technician, pause(ticket, technician, pause_at)))
    assert [session.auto_resume_at for _, _, session in paused] == [nov26(10, 30), nov26(10, 40), nov26(11, 30)]
    return paused


def test_the_sweep_submits_one_command_per_due_session_however_often_it_runs(three_paused):
    (t1, _, s1), (t2, _, s2), (_, _, s3) = three_paused

    assert sweep(nov26(10, 50)) == 2
    assert sweep(nov26(10, 50)) == 0
    assert sweep(nov26(10, 55)) == 0

    commands = list(auto_resume_commands())
    assert [(c.payload, c.ticket_id, c.lane, c.status, c.actor_id) for c in commands] == [
        ({"ticket_id": t1.pk, "session_id": s1.pk}, t1.pk, f"ticket:{t1.pk}", "pending", None),
        ({"ticket_id": t2.pk, "session_id": s2.pk}, t2.pk, f"ticket:{t2.pk}", "pending", None),
    ]
    assert [c.idempotency_key for c in commands] == [
        f"auto-resume:{s1.pk}:2026-11-26T10:30:00Z",
        f"auto-resume:{s2.pk}:2026-11-26T10:40:00Z",
    ]
    assert {c.submitter.username for c in commands} == {SYSTEM_USERNAME}
    assert {c.submitted_at for c in commands} == {nov26(10, 50)}

    assert sweep(nov26(11, 29, 59)) == 0  # the third is not due yet
    assert sweep(nov26(11, 30)) == 1
    assert sweep(nov26(11, 31)) == 0
    assert sorted(c.payload["session_id"] for c in auto_resume_commands()) == sorted([s1.pk, s2.pk, s3.pk])
    assert reloaded(s3).status == "paused"  # submitting is not applying: the worker does that


def test_the_sweep_submits_nothing_while_no_session_is_due(three_paused):
    assert sweep(nov26(10, 29, 59)) == 0
    assert not auto_resume_commands().exists()


def test_applying_the_swept_command_resumes_at_the_deadline(three_paused):
    (t1, _, s1), _, _ = three_paused
    sweep(nov26(10, 50))

    command = apply_lane(f"ticket:{t1.pk}", nov26(10, 51))

    assert command.status == "succeeded"
    assert command.result["work_session"]["status"] == "running"
    resumed = reloaded(s1).transitions.get(action="resumed")
    assert (resumed.event_at, resumed.actor_id) == (nov26(10, 30), None)
    assert resumed.metadata["applied_at"] == "2026-11-26T10:51:00Z"
    assert sweep(nov26(10, 52)) == 0  # resumed; the other due session's command is still pending
    assert auto_resume_commands().count() == 2


def test_an_auto_resume_stored_before_its_deadline_does_nothing_and_the_sweep_submits_it_again_once(three_paused):
    _, _, (t3, _, s3) = three_paused
    # An ETA job that woke two seconds early (a redelivered message past its tolerance check, say).
    assert submit_auto_resume(
        ticket_id=t3.pk, session_id=s3.pk, auto_resume_at=nov26(11, 30), stored_at=nov26(11, 29, 58)
    )
    first = apply_lane(f"ticket:{t3.pk}", nov26(11, 30, 5))  # applied after the deadline, judged as of its storing
    assert (first.status, first.result, first.effective_at) == ("succeeded", None, nov26(11, 29, 58))
    assert reloaded(s3).status == "paused"

    assert sweep(nov26(11, 31)) == 3  # the two others are due too
    assert sweep(nov26(11, 31)) == 0
    retry = auto_resume_commands().get(idempotency_key__endswith=":retry-1")
    assert retry.payload["session_id"] == s3.pk

    assert apply_lane(f"ticket:{t3.pk}", nov26(11, 32)).status == "succeeded"
    assert reloaded(s3).transitions.get(action="resumed").event_at == nov26(11, 30)


def test_the_eta_job_and_the_sweep_submit_one_command_between_them(three_paused):
    (_, _, s1), _, _ = three_paused

    assert eta_job(s1, nov26(10, 30), nov26(10, 30)) is True
    assert eta_job(s1, nov26(10, 30), nov26(10, 30)) is False  # a duplicated message
    assert sweep(nov26(10, 45)) == 1  # only the session due at 10:40

    assert [c.payload["session_id"] for c in auto_resume_commands()].count(s1.pk) == 1


def test_the_eta_job_does_nothing_for_a_stale_deadline(three_paused):
    (t1, tech1, s1), (t2, tech2, s2), (_, _, s3) = three_paused
    resume(t1, tech1, nov26(10, 20))  # resumed by hand before its deadline
    stop(t2, tech2, nov26(10, 35))  # stopped before its deadline
    change = use_rules(nov26(11, 5), daily_pause_limit_seconds=3600, timezone="UTC")
    at_instant(nov26(11, 5), lambda now: rules_change.recompute_pause_deadlines(changed_at=change.created_at))
    assert reloaded(s3).auto_resume_at == nov26(12)  # moved from 11:30

    assert eta_job(s1, nov26(10, 30), nov26(10, 30)) is False
    assert eta_job(s2, nov26(10, 40), nov26(10, 40)) is False
    assert eta_job(s3, nov26(11, 30), nov26(11, 30)) is False  # the old deadline
    assert eta_job(s3, nov26(12), nov26(11, 30)) is False  # far too early: a redelivery; the sweep covers it
    assert not auto_resume_commands().exists()
    assert sweep(nov26(11, 59)) == 0

    assert eta_job(s3, nov26(12), nov26(12)) is True
    assert auto_resume_commands().get().idempotency_key == f"auto-resume:{s3.pk}:2026-11-26T12:00:00Z"


# --- the AUTO_RESUME_ETA setting -------------------------------------------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kwargs: calls.append((name, kwargs)))
    return calls


@pytest.mark.parametrize(("eta", "jobs"), [(True, 1), (False, 0)])
def test_a_pause_schedules_an_eta_job_only_when_the_setting_is_on(
    shop, settings, published, django_capture_on_commit_callbacks, eta, jobs
):
    """On (the default), a pause schedules its auto-resume as an ETA job after commit; off, it schedules nothing
    and the beat sweep alone resumes the session (the benchmark's sweep-only scenario runs that way)."""
    settings.AUTO_RESUME_ETA = eta
    with django_capture_on_commit_callbacks(execute=True):
        ticket = shop.started().ticket
        session = sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick()).work_session
    assert [name for name, _ in published] == [TaskName.AUTO_RESUME] * jobs
    if jobs:
        assert published[0][1]["eta"] == session.auto_resume_at
    assert session.auto_resume_at is not None  # the deadline is stored either way: the sweep's truth
