"""Event time: a command takes effect when it was pressed (its `occurred_at`, clamped up to the latest instant
already recorded on its ticket), never when a worker got to it. Commands are stored pending at their press
instants and applied later, as a backlog or a worker outage would apply them."""

from datetime import timedelta

import pytest

from apps.accounts.models import system_user
from apps.commands.processing import apply_next, drain_lane
from apps.ticket.models import WorkSession
from tests.support.builders import pending_command, working_since
from tests.support.clock import nov26
from tests.support.records import reloaded, steps
from tests.support.sessions import budget, pause

pytestmark = pytest.mark.django_db

STARTED = nov26(10)
PAUSED = nov26(10, 30)
DEADLINE = PAUSED + timedelta(seconds=1800)  # the default budget: 1800 s a day, none used yet


@pytest.fixture
def paused_session(shop):
    ticket = working_since(shop, STARTED)
    session = pause(ticket, shop.technician, PAUSED)
    assert session.auto_resume_at == DEADLINE
    return ticket, session


def _press(shop, ticket, command_type: str, at):
    return pending_command(shop.technician, command_type, at=at, ticket_id=ticket.pk)


def _auto_resume_stored_at(ticket, session, at):
    """What the ETA job or the sweep stores once the deadline has come."""
    return pending_command(system_user(), "work_session.auto_resume", at=at, ticket_id=ticket.pk, session_id=session.pk)


def test_a_stop_pressed_before_the_deadline_and_applied_late_ends_the_pause_at_the_press(shop, paused_session):
    ticket, session = paused_session
    press = DEADLINE - timedelta(seconds=5)
    stop = _press(shop, ticket, "work_session.stop", press)
    _auto_resume_stored_at(ticket, session, DEADLINE)  # the ETA job fired while the stop waited in the queue

    applied = apply_next(f"ticket:{ticket.pk}", now=DEADLINE + timedelta(seconds=20))
    resumed = apply_next(f"ticket:{ticket.pk}", now=DEADLINE + timedelta(seconds=21))

    assert applied.pk == stop.pk and applied.status == "succeeded"
    assert applied.effective_at == press
    assert steps(session) == [
        ("started", STARTED, shop.technician.pk),
        ("paused", PAUSED, shop.technician.pk),
        ("stopped", press, shop.technician.pk),
    ]
    assert resumed.status == "succeeded" and resumed.result is None  # nothing left to resume
    stopped = reloaded(session)
    assert stopped.ended_at == press
    assert stopped.active_seconds == (PAUSED - STARTED).total_seconds()
    used = budget(shop.technician, PAUSED.date(), DEADLINE + timedelta(minutes=5)).used_seconds
    assert used == (press - PAUSED).total_seconds() == 1795


def test_a_resume_pressed_before_the_deadline_and_applied_after_it_succeeds_as_an_ordinary_resume(shop, paused_session):
    ticket, session = paused_session
    press = DEADLINE - timedelta(milliseconds=300)
    _press(shop, ticket, "work_session.resume", press)

    applied = apply_next(f"ticket:{ticket.pk}", now=DEADLINE + timedelta(seconds=25))

    assert applied.status == "succeeded", applied.error_message
    assert applied.effective_at == press
    last = WorkSession.objects.get(pk=session.pk).transitions.order_by("-event_at").first()
    assert (last.action, last.event_at, last.actor_id, last.metadata) == ("resumed", press, shop.technician.pk, {})


def test_a_command_pressed_after_the_deadline_first_meets_the_automatic_resume_at_the_deadline(shop, paused_session):
    ticket, session = paused_session
    press = DEADLINE + timedelta(seconds=40)
    _press(shop, ticket, "work_session.stop", press)

    applied = apply_next(f"ticket:{ticket.pk}", now=DEADLINE + timedelta(minutes=3))

    assert applied.status == "succeeded"
    assert [(action, at) for action, at, _ in steps(session)][-2:] == [("resumed", DEADLINE), ("stopped", press)]


def test_a_backlog_is_recorded_at_its_presses_not_at_its_processing(shop, paused_session):
    ticket, session = paused_session
    presses = [DEADLINE - timedelta(seconds=s) for s in (900, 600, 300)]
    life = ["work_session.resume", "work_session.pause", "work_session.resume"]
    for command_type, at in zip(life, presses, strict=True):
        _press(shop, ticket, command_type, at)

    assert drain_lane(f"ticket:{ticket.pk}") == 3  # by PostgreSQL's clock, days after the presses

    assert [at for _, at, _ in steps(session)] == [STARTED, PAUSED, *presses]
    expected_active = (PAUSED - STARTED) + (presses[1] - presses[0])
    assert reloaded(session).active_seconds == expected_active.total_seconds()


def test_a_command_dated_before_the_ticket_history_takes_effect_at_its_latest_instant(shop, paused_session):
    ticket, session = paused_session
    backdated = PAUSED - timedelta(minutes=10)  # a service said so, after the pause was recorded
    command = _press(shop, ticket, "work_session.resume", backdated)

    applied = apply_next(f"ticket:{ticket.pk}")

    assert applied.pk == command.pk and applied.status == "succeeded"
    assert applied.occurred_at == backdated
    assert applied.effective_at == PAUSED  # clamped: the history never goes backwards
    assert [at for _, at, _ in steps(session)][-1] == PAUSED


def test_a_refused_command_is_also_judged_as_of_its_effective_instant(shop, paused_session):
    ticket, _ = paused_session
    press = DEADLINE - timedelta(seconds=1)
    _press(shop, ticket, "work_session.pause", press)  # already paused

    applied = apply_next(f"ticket:{ticket.pk}")

    assert (applied.status, applied.error_code) == ("rejected", "invalid_transition")
    assert applied.effective_at == press
