"""DESIGN.md's invariants, attacked through the ORM and through raw SQL: PostgreSQL itself must refuse.

Every expected failure runs in its own `transaction.atomic()` so the test's transaction stays usable, and every
refusal is checked for the exact constraint (or the append-only trigger) that produced it.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from apps.commands.models import Command
from apps.common.append_only import AppendOnlyError
from apps.common.db import constraint_name
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.rules.models import RulesVersion
from apps.ticket.models import Ticket, TicketPartSpec, TicketTransition, WorkSession, WorkSessionTransition
from apps.xp.models import XpEntry, XpKind
from apps.xp.services import award_xp
from tests.support.clock import T0

RESTRICT_VIOLATION = "23001"


@contextmanager
def refused_by(constraint: str):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        yield
    assert constraint_name(caught.value) == constraint


@contextmanager
def refused_as_append_only(operation: str):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        yield
    assert caught.value.__cause__.sqlstate == RESTRICT_VIOLATION
    assert f"is append-only: {operation} refused" in str(caught.value)


def sql(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# --- rows built directly, bypassing the services ------------------------------------------------------------


def ticket_row(item, status="under_review", *, admin=None, technician=None, deleted=False, **fields) -> Ticket:
    if status not in ("under_review", "new") or admin is not None:
        fields.update(approved_by=admin, approved_at=T0)
    if status not in ("under_review", "new"):
        fields.update(technician=technician, assigned_at=T0)
    if status == "done":
        fields.update(finished_at=T0)
    return Ticket.objects.create(
        inventory_item=item,
        status=status,
        created_at=T0,
        updated_at=T0,
        deleted_at=T0 if deleted else None,
        **fields,
    )


def spec_row(ticket, part, *, item=None, deleted=False, color="green", minutes=10) -> TicketPartSpec:
    return TicketPartSpec.objects.create(
        ticket=ticket,
        inventory_item=item or ticket.inventory_item,
        inventory_item_part=part,
        color=color,
        minutes=minutes,
        created_at=T0,
        deleted_at=T0 if deleted else None,
    )


def session_row(ticket, technician, status="running", *, deleted=False) -> WorkSession:
    return WorkSession.objects.create(
        ticket=ticket,
        technician=technician,
        status=status,
        started_at=T0,
        updated_at=T0,
        ended_at=T0 + timedelta(hours=1) if status == "stopped" else None,
        auto_resume_at=T0 + timedelta(minutes=30) if status == "paused" else None,
        deleted_at=T0 if deleted else None,
    )


def insert_ticket_sql(item, status="under_review", deleted_at=None) -> int:
    (row,) = sql(
        "INSERT INTO ticket (inventory_item_id, title, status, total_duration, flag_minutes, flag_color, xp_amount,"
        " is_manual, created_at, updated_at, deleted_at)"
        " VALUES (%s, '', %s, 0, 0, 'green', 0, false, now(), now(), %s) RETURNING id",
        [item.pk, status, deleted_at],
    )
    return row[0]


def insert_spec_sql(ticket_id, item_id, part_id, *, color="green", minutes=10) -> None:
    sql(
        "INSERT INTO ticket_part_spec (ticket_id, inventory_item_id, inventory_item_part_id, color, minutes, comment,"
        " created_at) VALUES (%s, %s, %s, %s, %s, '', now())",
        [ticket_id, item_id, part_id, color, minutes],
    )


def insert_session_sql(ticket_id, technician_id, status="running") -> None:
    auto_resume_at = T0 + timedelta(minutes=30) if status == "paused" else None
    sql(
        "INSERT INTO work_session (ticket_id, technician_id, status, started_at, active_seconds, auto_resume_at,"
        " updated_at) VALUES (%s, %s, %s, now(), 0, %s, now())",
        [ticket_id, technician_id, status, auto_resume_at],
    )


# --- one active ticket per inventory item --------------------------------------------------------------------

ACTIVE = ["under_review", "new", "assigned", "in_progress", "waiting_qc", "rework"]


@pytest.mark.parametrize("status", ACTIVE)
def test_a_second_active_ticket_for_an_item_is_refused_through_the_orm(item, admin, technician, status):
    ticket_row(item, status, admin=admin, technician=technician)
    with refused_by("ticket_one_active_per_item"):
        ticket_row(item)
    assert Ticket.objects.filter(inventory_item=item).count() == 1


def test_a_second_active_ticket_for_an_item_is_refused_through_sql(item):
    insert_ticket_sql(item)
    with refused_by("ticket_one_active_per_item"):
        insert_ticket_sql(item, status="new")


def test_a_done_ticket_does_not_count_as_active(item, admin, technician):
    ticket_row(item, "done", admin=admin, technician=technician)
    ticket_row(item)
    insert_ticket_sql(item, status="under_review", deleted_at=T0)  # and neither does a deleted one
    assert Ticket.objects.filter(inventory_item=item).count() == 3


def test_a_soft_deleted_ticket_does_not_count_as_active(item):
    ticket_row(item, deleted=True)
    insert_ticket_sql(item, deleted_at=T0)
    insert_ticket_sql(item)
    assert Ticket.domain.active_for_item(item.pk).count() == 1


def test_reopening_a_done_ticket_beside_an_active_one_is_refused(item, admin, technician):
    done = ticket_row(item, "done", admin=admin, technician=technician)
    ticket_row(item)
    with refused_by("ticket_one_active_per_item"):
        Ticket.objects.filter(pk=done.pk).update(status="rework", finished_at=None)
    with refused_by("ticket_one_active_per_item"):
        sql("UPDATE ticket SET status = 'rework', finished_at = NULL WHERE id = %s", [done.pk])


def test_undeleting_a_ticket_beside_an_active_one_is_refused(item):
    deleted = ticket_row(item, deleted=True)
    ticket_row(item)
    with refused_by("ticket_one_active_per_item"):
        Ticket.objects.filter(pk=deleted.pk).update(deleted_at=None)
    with refused_by("ticket_one_active_per_item"):
        sql("UPDATE ticket SET deleted_at = NULL WHERE id = %s", [deleted.pk])


# --- part specs ---------------------------------------------------------------------------------------------


def test_a_second_active_spec_for_one_part_is_refused(item, parts):
    ticket = ticket_row(item)
    spec_row(ticket, parts[0])
    with refused_by("ticket_part_spec_one_active_per_part"):
        spec_row(ticket, parts[0], minutes=5)
    with refused_by("ticket_part_spec_one_active_per_part"):
        insert_spec_sql(ticket.pk, item.pk, parts[0].pk)


def test_soft_deleted_specs_do_not_block_a_new_one_for_the_part(item, parts):
    ticket = ticket_row(item)
    spec_row(ticket, parts[0], deleted=True)
    spec_row(ticket, parts[0], deleted=True)
    spec_row(ticket, parts[0])
    assert TicketPartSpec.objects.alive().filter(ticket=ticket).count() == 1
    with refused_by("ticket_part_spec_one_active_per_part"):
        TicketPartSpec.objects.filter(ticket=ticket).update(deleted_at=None)


def test_a_spec_for_a_part_of_another_item_is_refused(item, other_item_part):
    ticket = ticket_row(item)
    with refused_by("ticket_part_spec_part_belongs_to_item"):
        spec_row(ticket, other_item_part)
    with refused_by("ticket_part_spec_part_belongs_to_item"):
        insert_spec_sql(ticket.pk, item.pk, other_item_part.pk)
    assert not TicketPartSpec.objects.filter(ticket=ticket).exists()


def test_a_spec_claiming_another_item_than_its_tickets_is_refused(item, other_item, other_item_part):
    ticket = ticket_row(item)
    # The part really belongs to the item the spec names; that item just is not the ticket's.
    with refused_by("ticket_part_spec_item_matches_ticket"):
        spec_row(ticket, other_item_part, item=other_item)
    with refused_by("ticket_part_spec_item_matches_ticket"):
        insert_spec_sql(ticket.pk, other_item.pk, other_item_part.pk)


def test_moving_a_specified_part_to_another_item_is_refused(item, parts, other_item):
    spec_row(ticket_row(item), parts[0])
    with refused_by("ticket_part_spec_part_belongs_to_item"):
        InventoryItemPart.objects.filter(pk=parts[0].pk).update(inventory_item=other_item)
    with refused_by("ticket_part_spec_part_belongs_to_item"):
        sql("UPDATE inventory_item_part SET inventory_item_id = %s WHERE id = %s", [other_item.pk, parts[0].pk])


def test_moving_a_ticket_with_specs_to_another_item_is_refused(item, parts, other_item):
    ticket = ticket_row(item)
    spec_row(ticket, parts[0])
    with refused_by("ticket_part_spec_item_matches_ticket"):
        Ticket.objects.filter(pk=ticket.pk).update(inventory_item=other_item)
    with refused_by("ticket_part_spec_item_matches_ticket"):
        sql("UPDATE ticket SET inventory_item_id = %s WHERE id = %s", [other_item.pk, ticket.pk])


# --- one open session per ticket and per technician -----------------------------------------------------------


@pytest.mark.parametrize("first", ["running", "paused"])
@pytest.mark.parametrize("second", ["running", "paused"])
def test_a_second_open_session_on_a_ticket_is_refused(item, technician, other_technician, first, second):
    ticket = ticket_row(item)
    session_row(ticket, technician, first)
    with refused_by("work_session_one_open_per_ticket"):
        session_row(ticket, other_technician, second)
    with refused_by("work_session_one_open_per_ticket"):
        insert_session_sql(ticket.pk, other_technician.pk, second)


@pytest.mark.parametrize("first", ["running", "paused"])
@pytest.mark.parametrize("second", ["running", "paused"])
def test_a_second_open_session_for_a_technician_is_refused(item, other_item, technician, first, second):
    session_row(ticket_row(item), technician, first)
    other_ticket = ticket_row(other_item)
    with refused_by("work_session_one_open_per_technician"):
        session_row(other_ticket, technician, second)
    with refused_by("work_session_one_open_per_technician"):
        insert_session_sql(other_ticket.pk, technician.pk, second)


def test_stopped_and_deleted_sessions_do_not_count_as_open(item, technician):
    ticket = ticket_row(item)
    session_row(ticket, technician, "stopped")
    session_row(ticket, technician, "running", deleted=True)
    session_row(ticket, technician, "running")
    assert WorkSession.domain.open_for_technician(technician.pk).count() == 1


@pytest.mark.parametrize(
    ("open_on", "open_by", "constraint"),
    [
        ("same ticket", "other technician", "work_session_one_open_per_ticket"),
        ("other ticket", "same technician", "work_session_one_open_per_technician"),
    ],
)
def test_reopening_a_stopped_session_beside_an_open_one_is_refused(
    item, other_item, technician, other_technician, open_on, open_by, constraint
):
    ticket = ticket_row(item)
    stopped = session_row(ticket, technician, "stopped")
    session_row(
        ticket if open_on == "same ticket" else ticket_row(other_item),
        technician if open_by == "same technician" else other_technician,
        "running",
    )
    with refused_by(constraint):
        WorkSession.objects.filter(pk=stopped.pk).update(status="running", ended_at=None)
    with refused_by(constraint):
        sql("UPDATE work_session SET status = 'running', ended_at = NULL WHERE id = %s", [stopped.pk])


# --- CHECK constraints: colors, statuses and the rows' internal consistency ----------------------------------------


def test_an_unknown_ticket_flag_color_is_refused(item, other_item):
    ticket = ticket_row(item)
    with refused_by("ticket_flag_color_known"):
        Ticket.objects.filter(pk=ticket.pk).update(flag_color="purple")
    with refused_by("ticket_flag_color_known"):
        sql("UPDATE ticket SET flag_color = 'GREEN' WHERE id = %s", [ticket.pk])
    with refused_by("ticket_flag_color_known"):
        ticket_row(other_item, flag_color="")


def test_an_unknown_spec_color_is_refused(item, parts):
    ticket = ticket_row(item)
    with refused_by("ticket_part_spec_color_known"):
        spec_row(ticket, parts[0], color="blue")
    with refused_by("ticket_part_spec_color_known"):
        insert_spec_sql(ticket.pk, item.pk, parts[1].pk, color="orange")
    spec = spec_row(ticket, parts[0])
    with refused_by("ticket_part_spec_color_known"):
        sql("UPDATE ticket_part_spec SET color = 'blue' WHERE id = %s", [spec.pk])


@pytest.mark.parametrize(
    # Django's own CHECK for a PositiveIntegerField catches negatives before the range check does.
    ("minutes", "constraint"),
    [(-1, "ticket_part_spec_minutes_check"), (10081, "ticket_part_spec_minutes_range")],
)
def test_spec_minutes_outside_the_allowed_range_are_refused(item, parts, minutes, constraint):
    ticket = ticket_row(item)
    with refused_by(constraint):
        insert_spec_sql(ticket.pk, item.pk, parts[0].pk, minutes=minutes)
    insert_spec_sql(ticket.pk, item.pk, parts[0].pk, minutes=10080)


def test_an_unknown_ticket_status_is_refused(item, admin, technician):
    ticket = ticket_row(item, "assigned", admin=admin, technician=technician)
    with refused_by("ticket_status_known"):
        Ticket.objects.filter(pk=ticket.pk).update(status="lost")
    with refused_by("ticket_status_known"):
        sql("UPDATE ticket SET status = 'closed' WHERE id = %s", [ticket.pk])


def test_an_unknown_session_status_is_refused(item, technician):
    session = session_row(ticket_row(item), technician)
    with refused_by("work_session_status_known"):
        WorkSession.objects.filter(pk=session.pk).update(status="sleeping")
    with refused_by("work_session_status_known"):
        sql("UPDATE work_session SET status = 'idle' WHERE id = %s", [session.pk])


def test_an_unknown_inventory_item_status_is_refused(item):
    with refused_by("inventory_item_status_known"):
        InventoryItem.objects.filter(pk=item.pk).update(status="broken")
    with refused_by("inventory_item_status_known"):
        sql("UPDATE inventory_item SET status = 'lost' WHERE id = %s", [item.pk])


@pytest.mark.parametrize(
    ("table", "column", "value", "constraint"),
    [
        ("ticket_transition", "to_status", "closed", "ticket_transition_to_known"),
        ("ticket_transition", "action", "deleted", "ticket_transition_action_known"),
        ("work_session_transition", "to_status", "idle", "ws_transition_to_known"),
        ("work_session_transition", "action", "slept", "ws_transition_action_known"),
    ],
)
def test_history_rows_with_unknown_statuses_or_actions_are_refused(shop, table, column, value, constraint):
    outcome = shop.started()
    parent, parent_id = ("ticket_id", outcome.ticket.pk)
    if table == "work_session_transition":
        parent, parent_id = ("session_id", outcome.work_session.pk)
    values = {"action": "started", "to_status": "running" if table == "work_session_transition" else "new"}
    values[column] = value
    time_column = "event_at" if table == "work_session_transition" else "created_at"
    extra = ", note" if table == "ticket_transition" else ""
    extra_value = ", ''" if table == "ticket_transition" else ""
    with refused_by(constraint):
        sql(
            f"INSERT INTO {table} ({parent}, action, to_status, metadata, {time_column}{extra})"
            f" VALUES (%s, %s, %s, '{{}}', now(){extra_value})",
            [parent_id, values["action"], values["to_status"]],
        )


def test_an_unknown_xp_kind_is_refused(shop):
    with refused_by("xp_entry_kind_known"):
        sql(
            "INSERT INTO xp_entry (user_id, kind, amount, reference, created_at) VALUES (%s, 'bonus', 1, 'r', now())",
            [shop.technician.pk],
        )


@pytest.mark.parametrize(
    ("status", "assignment", "constraint"),
    [
        ("new", "approved_at = NULL", "ticket_approved_together"),
        ("new", "approved_by_id = NULL", "ticket_approved_together"),
        ("assigned", "approved_at = NULL, approved_by_id = NULL", "ticket_reviewed_before_workflow"),
        ("assigned", "technician_id = NULL", "ticket_assigned_has_technician"),
        ("done", "finished_at = NULL", "ticket_done_has_finished_at"),
    ],
)
def test_ticket_rows_must_stay_internally_consistent(item, admin, technician, status, assignment, constraint):
    ticket = ticket_row(item, status, admin=admin, technician=technician)
    with refused_by(constraint):
        sql(f"UPDATE ticket SET {assignment} WHERE id = %s", [ticket.pk])


@pytest.mark.parametrize(
    ("status", "assignment", "constraint"),
    [
        ("running", "ended_at = now()", "work_session_stopped_iff_ended"),
        ("stopped", "ended_at = NULL", "work_session_stopped_iff_ended"),
        ("paused", "auto_resume_at = NULL", "work_session_paused_iff_deadline"),
        ("running", "auto_resume_at = now()", "work_session_paused_iff_deadline"),
        ("running", "active_seconds = -0.000001", "work_session_active_nonnegative"),
    ],
)
def test_session_rows_must_stay_internally_consistent(item, technician, status, assignment, constraint):
    session = session_row(ticket_row(item), technician, status)
    with refused_by(constraint):
        sql(f"UPDATE work_session SET {assignment} WHERE id = %s", [session.pk])


# --- append-only history ----------------------------------------------------------------------------------


@pytest.fixture
def ticket_transition(shop):
    shop.create()
    return TicketTransition.objects.latest("id")


@pytest.fixture
def work_session_transition(shop):
    shop.started()
    return WorkSessionTransition.objects.latest("id")


@pytest.fixture
def xp_entry(shop):
    ticket = shop.create()
    award_xp(user=shop.technician, kind=XpKind.TICKET_BASE_XP, amount=3, reference="r-1", ticket=ticket, at=T0)
    return XpEntry.objects.get(reference="r-1")


@pytest.fixture
def rules_version(db):
    return RulesVersion.objects.get(version=1)


APPEND_ONLY = [
    ("ticket_transition", TicketTransition, "note", "rewritten"),
    ("work_session_transition", WorkSessionTransition, "metadata", {"rewritten": True}),
    ("xp_entry", XpEntry, "amount", 1000),
    ("rules_version", RulesVersion, "reason", "rewritten"),
]


def snapshot(row) -> dict:
    return type(row).objects.filter(pk=row.pk).values().get()


@pytest.mark.parametrize(("table", "model", "field", "value"), APPEND_ONLY)
def test_the_orm_refuses_to_change_or_delete_append_only_rows(request, table, model, field, value):
    row = request.getfixturevalue(table)
    before = snapshot(row)

    setattr(row, field, value)
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).update(**{field: value})
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).delete()

    assert snapshot(row) == before


@pytest.mark.parametrize(("table", "model", "field", "value"), APPEND_ONLY)
def test_the_database_refuses_orm_writes_that_bypass_the_guard(request, table, model, field, value):
    row = request.getfixturevalue(table)
    before = snapshot(row)
    plain = model._base_manager  # a plain manager: no append-only guard in Python

    with refused_as_append_only("UPDATE"):
        plain.filter(pk=row.pk).update(**{field: value})
    with refused_as_append_only("DELETE"):
        plain.filter(pk=row.pk).delete()

    assert snapshot(row) == before


@pytest.mark.parametrize(("table", "model", "field", "value"), APPEND_ONLY)
def test_the_database_refuses_raw_sql_updates_and_deletes_of_append_only_rows(request, table, model, field, value):
    row = request.getfixturevalue(table)
    before = snapshot(row)

    with refused_as_append_only("UPDATE"):
        sql(f"UPDATE {table} SET id = id WHERE id = %s", [row.pk])
    with refused_as_append_only("UPDATE"):
        sql(f"UPDATE {table} SET id = id")  # every row, not only this one
    with refused_as_append_only("DELETE"):
        sql(f"DELETE FROM {table} WHERE id = %s", [row.pk])
    with refused_as_append_only("DELETE"):
        sql(f"DELETE FROM {table}")

    assert snapshot(row) == before
    assert sql(f"SELECT count(*) FROM {table} WHERE id = %s", [row.pk]) == [(1,)]


@pytest.mark.parametrize(("table", "model", "field", "value"), APPEND_ONLY)
def test_the_database_refuses_to_truncate_an_append_only_table(request, table, model, field, value):
    row = request.getfixturevalue(table)
    sql("SET LOCAL ticketflow.allow_truncate = off")  # as every connection but the test suite's flush
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # PostgreSQL refuses any TRUNCATE while deferred checks are pending

    with refused_as_append_only("TRUNCATE"):
        sql(f"TRUNCATE {table}")

    assert sql(f"SELECT count(*) FROM {table} WHERE id = %s", [row.pk]) == [(1,)]


def test_append_only_tables_still_accept_new_rows(shop):
    ticket = shop.create()
    before = TicketTransition.objects.filter(ticket=ticket).count()
    ticket.add_transition(
        action="part_specs_changed", from_status="under_review", to_status="under_review", actor=None, at=shop.tick()
    )
    assert TicketTransition.objects.filter(ticket=ticket).count() == before + 1


# --- histories never go backwards (event time) ---------------------------------------------------------------------


def test_a_session_event_dated_before_the_last_one_is_refused(shop):
    outcome = shop.started()
    started = outcome.work_session.started_at

    with refused_by("work_session_transition_in_order"):
        sql(
            "INSERT INTO work_session_transition (session_id, action, from_status, to_status, metadata, event_at)"
            " VALUES (%s, 'paused', 'running', 'paused', '{}', %s)",
            [outcome.work_session.pk, started - timedelta(microseconds=1)],
        )
    sql(  # at the same instant, or later, is in order
        "INSERT INTO work_session_transition (session_id, action, from_status, to_status, metadata, event_at)"
        " VALUES (%s, 'paused', 'running', 'paused', '{}', %s)",
        [outcome.work_session.pk, started],
    )


def test_a_ticket_event_dated_before_the_last_one_is_refused(shop):
    ticket = shop.create()
    created = ticket.created_at

    with refused_by("ticket_transition_in_order"):
        sql(
            "INSERT INTO ticket_transition (ticket_id, action, from_status, to_status, metadata, note, created_at)"
            " VALUES (%s, 'part_specs_changed', 'under_review', 'under_review', '{}', '', %s)",
            [ticket.pk, created - timedelta(seconds=1)],
        )


def test_each_history_is_in_order_on_its_own(item, other_item):
    later, earlier = ticket_row(item), ticket_row(other_item)
    insert = (
        "INSERT INTO ticket_transition (ticket_id, action, from_status, to_status, metadata, note, created_at)"
        " VALUES (%s, 'created', NULL, 'under_review', '{}', '', %s)"
    )
    sql(insert, [later.pk, T0 + timedelta(hours=1)])

    sql(insert, [earlier.pk, T0])  # another ticket's later history holds nothing back

    assert TicketTransition.objects.filter(ticket__in=[later, earlier]).count() == 2


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"status": "succeeded", "effective_at": None}, "command_effective_iff_judged"),
        ({"status": "pending", "effective_at": T0}, "command_effective_iff_judged"),
        ({"status": "failed", "effective_at": T0}, "command_effective_iff_judged"),
        ({"status": "rejected", "effective_at": T0 - timedelta(seconds=1)}, "command_effective_not_before_occurred"),
        ({"occurred_at": T0 + timedelta(seconds=3)}, "command_occurred_not_ahead"),
    ],
    ids=["judged without an instant", "pending with one", "failed with one", "before its press", "too far ahead"],
)
def test_a_command_row_keeps_its_instants_consistent(technician, fields, constraint):
    row = {"submitted_at": T0, "occurred_at": T0, "status": "pending", "effective_at": None, **fields}
    extra = {"finished_at": T0, "error_code": "x"} if row["status"] in ("rejected", "failed") else {}
    if row["status"] == "succeeded":
        extra = {"finished_at": T0}
    with refused_by(constraint):
        Command.objects.create(
            type="work_session.pause",
            payload={"ticket_id": 1},
            lane="ticket:1",
            submitter=technician,
            actor=technician,
            fingerprint="-",
            **row,
            **extra,
        )
