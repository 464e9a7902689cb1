"""Applying commands from the inbox (apps.commands.processing), without a broker: order, outcomes, refusals."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.commands.models import Command
from apps.commands.processing import apply_next, drain_lane, mark_failed
from apps.ticket.models import WorkSession, WorkSessionTransition
from apps.ticket.services_work_session import pause_work_session
from tests.support.builders import pending_command

# Plain test transactions: nothing is published on commit, so no live worker anywhere can react to these rows.
pytestmark = pytest.mark.django_db


def test_a_lane_applies_its_commands_oldest_first_and_records_each_outcome(shop):
    ticket = shop.assigned()
    tech = shop.technician
    commands = [
        pending_command(tech, kind, at=shop.tick(), ticket_id=ticket.pk)
        for kind in ("ticket.start", "work_session.pause", "work_session.pause", "work_session.stop")
    ]
    applied = drain_lane(f"ticket:{ticket.pk}")

    outcomes = [(c.type, c.status, c.error_code, c.attempts) for c in Command.objects.order_by("seq")]
    assert outcomes == [
        ("ticket.start", "succeeded", "", 1),
        ("work_session.pause", "succeeded", "", 1),
        ("work_session.pause", "rejected", "invalid_transition", 1),  # already paused
        ("work_session.stop", "succeeded", "", 1),
    ]
    assert applied == 4
    done = Command.objects.get(pk=commands[0].pk)
    assert done.result["ticket"]["status"] == "in_progress"
    assert done.result["work_session"]["status"] == "running"
    assert apply_next(f"ticket:{ticket.pk}", now=shop.tick()) is None  # a repeat delivery finds nothing


def test_a_command_on_a_missing_ticket_is_rejected_not_found(shop):
    pending_command(shop.technician, "ticket.start", at=shop.now, ticket_id=987654)
    command = apply_next("ticket:987654", now=shop.tick())
    assert (command.status, command.error_code) == ("rejected", "not_found")


def test_an_actor_who_lost_the_role_is_refused_when_the_command_is_applied(shop):
    ticket = shop.assigned()
    pending_command(shop.technician, "ticket.start", at=shop.now, ticket_id=ticket.pk)
    shop.technician.roles = []
    shop.technician.save()
    command = apply_next(f"ticket:{ticket.pk}", now=shop.tick())
    assert (command.status, command.error_code) == ("rejected", "forbidden")


def test_a_due_auto_resume_stands_even_when_the_command_after_it_is_refused(shop):
    outcome = shop.started()
    ticket, tech = outcome.ticket, shop.technician
    paused = pause_work_session(ticket_id=ticket.pk, actor=tech, at=shop.tick()).work_session
    deadline = paused.auto_resume_at
    # The technician asks to resume after the budget ran out: the session was due to resume at the deadline.
    pending_command(tech, "work_session.resume", at=deadline + timedelta(seconds=30), ticket_id=ticket.pk)
    command = apply_next(f"ticket:{ticket.pk}", now=deadline + timedelta(seconds=31))

    assert (command.status, command.error_code) == ("rejected", "invalid_transition")
    session = WorkSession.objects.get(pk=paused.pk)
    assert session.status == "running" and session.auto_resume_at is None
    resumed = WorkSessionTransition.objects.get(session=session, action="resumed")
    assert resumed.event_at == deadline and resumed.metadata["auto_resumed"] is True


def test_marking_a_command_failed_lets_its_lane_move_on(shop):
    ticket = shop.assigned()
    first = pending_command(shop.technician, "ticket.start", at=shop.now, ticket_id=ticket.pk)
    second = pending_command(shop.technician, "work_session.pause", at=shop.now, ticket_id=ticket.pk)
    mark_failed(first.id, reason="OperationalError: the database went away")

    applied = apply_next(f"ticket:{ticket.pk}", now=shop.tick())
    assert applied.pk == second.pk
    assert (applied.status, applied.error_code) == ("rejected", "no_open_session")
    failed = Command.objects.get(pk=first.pk)
    assert (failed.status, failed.error_code) == ("failed", "internal_error") and failed.finished_at is not None


def test_a_drain_ends_with_its_last_command_not_with_an_empty_transaction(shop):
    """The two oldest pending commands are read together, so the drain knows the last one is the last."""
    ticket = shop.assigned()
    pending_command(shop.technician, "ticket.start", at=shop.tick(), ticket_id=ticket.pk)
    pending_command(shop.technician, "work_session.pause", at=shop.tick(), ticket_id=ticket.pk)
    with CaptureQueriesContext(connection) as queries:
        assert drain_lane(f"ticket:{ticket.pk}") == 2
    lane_locks = [q["sql"] for q in queries.captured_queries if "pg_advisory_xact_lock" in q["sql"]]
    assert len(lane_locks) == 2  # one transaction per command, none after the last


def test_the_clock_and_the_tickets_latest_instant_are_read_while_the_lane_lock_is_held(shop):
    """A command's effective instant is settled once its lane is locked: two workers racing for one lane must not
    judge a later command against a history read before the one applied meanwhile."""
    ticket = shop.assigned()
    for command_type in ("ticket.start", "work_session.pause"):
        pending_command(shop.technician, command_type, at=shop.tick(), ticket_id=ticket.pk)

    with CaptureQueriesContext(connection) as queries:
        assert drain_lane(f"ticket:{ticket.pk}") == 2

    sql = [q["sql"] for q in queries.captured_queries]
    locks = [i for i, statement in enumerate(sql) if "pg_advisory_xact_lock" in statement]
    reads = [
        i
        for i, statement in enumerate(sql)
        if "STATEMENT_TIMESTAMP()" in statement and "work_session_transition" in statement
    ]
    assert len(locks) == len(reads) == 2
    assert all(lock < read for lock, read in zip(locks, reads, strict=True))
    assert list(Command.objects.order_by("seq").values_list("status", flat=True)) == ["succeeded", "succeeded"]
