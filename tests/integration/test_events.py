"""The outbox (apps/events): each change appends its one event in its own transaction, and the log stays as written."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings

from apps.audit.invariants import find_violations
from apps.commands.models import Command
from apps.commands.processing import drain_lane, mark_failed
from apps.common.append_only import AppendOnlyError
from apps.events import recording
from apps.events.models import Event
from apps.events.payloads import metrics_recomputed
from apps.events.retention import prune_expired_events
from apps.rules.config import parse_config
from apps.rules.services import change_rules
from apps.ticket.models import Ticket, TicketTransition, WorkSessionTransition
from apps.ticket.services_rules_change import recompute_auto_metrics
from apps.xp.models import XpEntry
from tests.integration.test_database_guards import refused_as_append_only, sql
from tests.support.builders import pending_command, workplace
from tests.support.clock import utc

pytestmark = pytest.mark.django_db


def events(**filters) -> list[Event]:
    return list(Event.objects.filter(**filters).order_by("position"))


def types(rows: list[Event]) -> list[str]:
    return [row.type for row in rows]


def apply(actor, command_type: str, *, at, ticket_id: int) -> Command:
    command = pending_command(actor, command_type, at=at, ticket_id=ticket_id)
    drain_lane(f"ticket:{ticket_id}")
    command.refresh_from_db()
    return command


def test_a_ticket_life_records_every_change_once_in_order(shop):
    ticket = shop.assigned()
    tech, inspector = shop.technician, shop.inspector
    start = apply(tech, "ticket.start", at=shop.tick(), ticket_id=ticket.pk)
    pause = apply(tech, "work_session.pause", at=shop.tick(), ticket_id=ticket.pk)
    deadline = pause.result["work_session"]["auto_resume_at"]
    budget_gone = Command.objects.get(pk=pause.pk).effective_at + timedelta(seconds=1800)
    # Stop pressed 30 s after the pause budget ran out: the automatic resume comes first, at the deadline.
    stop = apply(tech, "work_session.stop", at=budget_gone + timedelta(seconds=30), ticket_id=ticket.pk)
    shop.now = budget_gone + timedelta(seconds=30)
    refused = apply(tech, "work_session.pause", at=shop.tick(), ticket_id=ticket.pk)
    apply(tech, "ticket.to_waiting_qc", at=shop.tick(), ticket_id=ticket.pk)
    qc = apply(inspector, "ticket.qc_pass", at=shop.tick(), ticket_id=ticket.pk)
    assert (stop.status, refused.status, qc.status) == ("succeeded", "rejected", "succeeded")

    life = events(ticket_id=ticket.pk)
    assert types(life) == [
        "ticket.created",
        "ticket.review_approved",
        "ticket.assigned",
        "ticket.started",
        "work_session.started",
        "work_session.paused",
        "work_session.resumed",
        "work_session.stopped",
        "command.rejected",
        "ticket.to_waiting_qc",
        "ticket.qc_pass",
        "xp.awarded",
        "xp.awarded",
        "xp.awarded",
    ]
    positions = [row.position for row in life]
    assert positions == sorted(set(positions))
    assert len(set(row.id for row in life)) == len(life)
    by_type = {row.type: row for row in life}

    started = by_type["ticket.started"]
    assert started.command_id == start.id == by_type["work_session.started"].command_id
    assert (started.actor_id, started.technician_id) == (tech.pk, tech.pk)
    assert started.data["from_status"] == "assigned" and started.data["to_status"] == "in_progress"
    assert started.data["ticket"]["status"] == "in_progress" and "part_specs" not in started.data["ticket"]
    assert started.occurred_at == start.effective_at

    resumed = by_type["work_session.resumed"]
    assert resumed.data["auto_resumed"] is True and resumed.actor_id is None
    assert resumed.occurred_at == budget_gone and resumed.data["work_session"]["status"] == "running"
    assert deadline.startswith(budget_gone.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "transitions" not in resumed.data["work_session"]
    assert by_type["work_session.paused"].data["auto_resumed"] is False
    assert by_type["work_session.stopped"].occurred_at == stop.effective_at

    rejection = by_type["command.rejected"]
    assert rejection.command_id == refused.id and rejection.occurred_at == refused.effective_at
    assert rejection.data["command"]["status"] == "rejected"
    assert rejection.data["command"]["error"]["code"] == refused.error_code

    awards = [row for row in life if row.type == "xp.awarded"]
    ledger = XpEntry.objects.filter(ticket=ticket).order_by("id")
    assert [(row.technician_id, row.data["entry"]["id"]) for row in awards] == [(e.user_id, e.pk) for e in ledger]
    assert {row.command_id for row in awards} == {qc.id} and {row.actor_id for row in awards} == {inspector.pk}

    # One event per history row, and nothing else about this ticket.
    transitions = TicketTransition.objects.filter(ticket=ticket).count()
    session_steps = WorkSessionTransition.objects.filter(session__ticket=ticket).count()
    assert sum(row.type.startswith("ticket.") for row in life) == transitions
    assert sum(row.type.startswith("work_session.") for row in life) == session_steps


def test_a_refused_change_leaves_no_event_of_its_own(shop):
    ticket = shop.assigned()
    before = Event.objects.count()
    refused = apply(shop.technician, "work_session.pause", at=shop.tick(), ticket_id=ticket.pk)
    assert refused.status == "rejected"
    assert types(list(Event.objects.order_by("position")[before:])) == ["command.rejected"]


def test_a_failed_command_is_an_event(shop):
    ticket = shop.assigned()
    command = pending_command(shop.technician, "ticket.start", at=shop.tick(), ticket_id=ticket.pk)
    mark_failed(command.id, reason="OperationalError: the database went away")

    [failed] = events(type="command.failed")
    assert failed.command_id == command.id
    assert failed.data["command"]["id"] == str(command.id) and failed.data["command"]["status"] == "failed"
    assert failed.ticket_id == ticket.pk


def test_a_rules_change_and_the_metrics_it_moves_are_events(shop):
    moved = shop.assigned(minutes=(25, 20))  # 45 minutes: yellow, 3 XP under the defaults
    version = change_rules(config={"ticket_xp": {"base_divisor": 5}}, reason="richer XP", changed_by=shop.admin)
    [changed] = events(type="rules.changed")
    assert changed.data == {"version": version.version, "config": version.config}
    assert (changed.actor_id, changed.occurred_at) == (shop.admin.pk, version.created_at)

    xp_rules = parse_config(version.config).ticket_xp
    assert recompute_auto_metrics(xp_rules=xp_rules, at=version.created_at) == 1
    assert recompute_auto_metrics(xp_rules=xp_rules, at=version.created_at) == 0  # nothing moves twice
    [recomputed] = events(type="ticket.metrics_recomputed")
    assert recomputed.ticket_id == moved.pk and recomputed.occurred_at == version.created_at
    assert recomputed.data["ticket"]["xp_amount"] == 9
    assert recomputed.data["from_status"] == recomputed.data["to_status"] == "assigned"


def test_postgresql_writes_the_metrics_recomputed_event_as_the_python_form_does(shop):
    """The recompute writes its events in SQL (`metrics_recomputed_sql`): each must equal `metrics_recomputed` of
    the ticket as it then stands, every field, instants with and without microseconds and null ones alike."""
    whole_second = shop.assigned(minutes=(25, 20))
    Ticket.objects.filter(pk=whole_second.pk).update(created_at=utc(2026, 11, 26, 9))  # no microseconds
    item, parts = workplace()
    started = shop.started(minutes=(30,), item=item, parts=parts).ticket
    item, parts = workplace()
    fresh = shop.create(minutes=(5, 5), item=item, parts=parts)  # approved_at, assigned_at, started_at: null
    version = change_rules(config={"ticket_xp": {"base_divisor": 4}}, reason="richer XP", changed_by=shop.admin)
    xp_rules = parse_config(version.config).ticket_xp
    assert recompute_auto_metrics(xp_rules=xp_rules, at=version.created_at) == 3

    recomputed = events(type="ticket.metrics_recomputed")
    assert [event.ticket_id for event in recomputed] == sorted([whole_second.pk, started.pk, fresh.pk])
    for event in recomputed:
        expected = metrics_recomputed(Ticket.objects.get(pk=event.ticket_id))
        assert (event.type, event.occurred_at, event.technician_id, event.actor_id, event.command_id) == (
            expected.type,
            expected.occurred_at,
            expected.technician_id,
            None,
            None,
        )
        assert event.data == expected.data


def test_the_orm_refuses_to_change_or_delete_events(shop):
    shop.create()
    event = events()[0]
    event.type = "ticket.qc_pass"
    for attempt in (
        event.save,
        event.delete,
        lambda: Event.objects.filter(pk=event.pk).update(type="ticket.qc_pass"),
        lambda: Event.objects.all().delete(),
    ):
        with pytest.raises(AppendOnlyError):
            attempt()
    assert Event.objects.get(pk=event.pk).type == "ticket.created"


def test_postgresql_refuses_update_delete_and_truncate_of_events(shop):
    shop.create()
    with refused_as_append_only("UPDATE"):
        sql("UPDATE event SET type = 'ticket.qc_pass'")
    with refused_as_append_only("DELETE"):
        sql("DELETE FROM event")
    with refused_as_append_only("DELETE"):
        Event._base_manager.all().delete()  # past the ORM's guard
    sql("SET LOCAL ticketflow.allow_truncate = off")  # as every connection but the test suite's flush
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    with refused_as_append_only("TRUNCATE"):
        sql("TRUNCATE event")
    assert Event.objects.filter(type="ticket.created").count() == 1


def test_the_prune_removes_only_events_past_retention_and_nothing_else_may_delete(shop):
    shop.create()
    old, recent = events()[0], Event.objects.create(type="rules.changed", occurred_at=shop.now, data={})
    now = recent.recorded_at

    with override_settings(EVENT_RETENTION_DAYS=0):
        assert prune_expired_events(now=now + timedelta(days=1000)) == 0  # 0 keeps them forever
    with override_settings(EVENT_RETENTION_DAYS=90):
        assert prune_expired_events(now=now + timedelta(days=89)) == 0
        with transaction.atomic():
            assert prune_expired_events(now=now + timedelta(days=91), batch_size=1) == 2
            assert not Event.objects.filter(pk__in=[old.pk, recent.pk]).exists()
            # The bypass ends with the prune: a row its cutoff would cover is refused to a plain DELETE after it.
            Event.objects.create(type="rules.changed", occurred_at=shop.now, data={})
            with refused_as_append_only("DELETE"):
                sql("DELETE FROM event")
            transaction.set_rollback(True)

    # Naming an instant opens only rows recorded before it.
    with refused_as_append_only("DELETE"):
        sql("SELECT set_config('ticketflow.prune_events_before', %s, true)", [(now - timedelta(days=1)).isoformat()])
        sql("DELETE FROM event")
    assert Event.objects.filter(pk__in=[old.pk, recent.pk]).count() == 2


def test_the_checker_finds_a_history_row_written_without_its_event(shop):
    ticket = shop.waiting_qc()
    assert find_violations(now=shop.tick(), events=True) == []

    # Written around the model's methods, as no service does: the row has no event.
    TicketTransition.objects.create(
        ticket=ticket,
        action="part_specs_changed",
        from_status="waiting_qc",
        to_status="waiting_qc",
        created_at=shop.tick(),
    )
    XpEntry.objects.create(
        user=shop.technician, kind="qc_status_update", amount=1, reference="x", ticket=ticket, created_at=shop.now
    )
    assert find_violations(now=shop.tick(), events=True) == [
        f"history_events: ticket {ticket.pk}: 6 transitions but 5 events, 1 XP entries but 0 events"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_announces_its_events_once(shop, monkeypatch):
    ticket = shop.waiting_qc()
    announced = []
    monkeypatch.setattr(recording, "announce_events", lambda: announced.append(True))
    qc = apply(shop.inspector, "ticket.qc_pass", at=shop.tick(), ticket_id=ticket.pk)
    assert types(events(command_id=qc.id)) == ["ticket.qc_pass", "xp.awarded", "xp.awarded", "xp.awarded"]
    assert len(announced) == 1
