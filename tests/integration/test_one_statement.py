"""One-statement writes (apps/common/one_statement.py) remember each write shape's SQL and bind only its values.

The SQL is composed by the ORM on a shape's first write, which also checks that the values prepared without the
compiler are the compiler's own; a shape where they are not is composed every time, and its rows are still right.
"""

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext

from apps.common import one_statement
from apps.common.one_statement import Update, save_in_one_statement
from apps.events.models import Event
from apps.ticket import services_work_session as sessions
from apps.ticket.models import WorkSession, WorkSessionTransition
from tests.support.clock import utc

pytestmark = pytest.mark.django_db


def columns(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def pause_and_resume(shop, ticket, *, minute: int):
    with transaction.atomic():
        paused = sessions.pause_work_session(
            ticket_id=ticket.pk, actor=shop.technician, at=utc(2026, 11, 26, 10, minute)
        )
    with transaction.atomic():
        resumed = sessions.resume_work_session(
            ticket_id=ticket.pk, actor=shop.technician, at=utc(2026, 11, 26, 10, minute + 1)
        )
    return paused.work_session, resumed.work_session


def test_a_sessions_writes_are_composed_once_and_store_what_save_would(shop, monkeypatch):
    monkeypatch.setattr(one_statement, "_sql_by_shape", {})
    ticket = shop.started().ticket
    pause_and_resume(shop, ticket, minute=0)
    shapes = dict(one_statement._sql_by_shape)
    _, session = pause_and_resume(shop, ticket, minute=10)  # the same shapes again, other values

    assert one_statement._sql_by_shape == shapes  # nothing composed anew
    written = {model for model, *_ in shapes}
    assert {WorkSession, WorkSessionTransition, Event} <= written
    assert all(shapes.values()), "every shape's values were the compiler's own"
    stored = WorkSession.objects.get(pk=session.pk)
    assert columns(stored) == columns(session)
    assert session.status == "running" and session.auto_resume_at is None  # NULL written from the cached UPDATE
    last = WorkSessionTransition.objects.filter(session=session).order_by("-id").first()
    assert (last.to_status, last.event_at) == ("running", utc(2026, 11, 26, 10, 11))
    assert Event.objects.filter(type="work_session.resumed").count() == 2


def test_a_shape_whose_values_differ_from_the_compilers_is_composed_every_time(shop, monkeypatch):
    monkeypatch.setattr(one_statement, "_sql_by_shape", {})
    prepared = one_statement._prepared
    monkeypatch.setattr(one_statement, "_prepared", lambda field, value: ("wrong", prepared(field, value)))
    ticket = shop.started().ticket

    _, session = pause_and_resume(shop, ticket, minute=0)

    assert one_statement._sql_by_shape and not any(one_statement._sql_by_shape.values())
    assert columns(WorkSession.objects.get(pk=session.pk)) == columns(session)
    assert WorkSessionTransition.objects.filter(session=session).count() == 3


def test_a_write_with_an_expression_of_its_own_is_never_remembered(shop, monkeypatch):
    session = shop.started().work_session
    monkeypatch.setattr(one_statement, "_sql_by_shape", {})
    with transaction.atomic():
        session.updated_at = Now()  # its SQL is the expression's: another write of the shape may hold another one
        save_in_one_statement(Update(session, ["updated_at"]))

    assert one_statement._sql_by_shape == {}
    session.refresh_from_db()
    assert session.updated_at is not None


# --- several new rows in one INSERT (`insert_rows`, the outbox's writer) -------------------------------------------


def new_events(count: int, **overrides) -> list[Event]:
    return [
        Event(
            type="xp.awarded",
            occurred_at=utc(2026, 11, 26, 10, n),
            data={"n": n, "note": "ü \u2028 'quoted'"},
            ticket_id=None if n % 2 else 7,  # NULLs and values mixed: one shape's SQL
            **overrides,
        )
        for n in range(count)
    ]


def test_rows_go_in_one_insert_in_the_order_given_with_what_the_database_filled_in(shop, monkeypatch):
    monkeypatch.setattr(one_statement, "_sql_by_shape", {})
    rows = new_events(3)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        one_statement.insert_rows(rows)

    assert len(queries.captured_queries) == 1
    stored = list(Event.objects.filter(pk__in=[row.pk for row in rows]).order_by("position"))
    assert [event.data["n"] for event in stored] == [0, 1, 2]  # positions follow the order given
    assert [columns(row) for row in rows] == [columns(event) for event in stored]  # position, recorded_at, xid set
    assert all(not row._state.adding for row in rows)


def test_more_rows_than_one_insert_takes_go_in_several_in_order(shop, monkeypatch):
    monkeypatch.setattr(one_statement, "ROWS_PER_INSERT", 2)
    rows = new_events(5)
    with CaptureQueriesContext(connection) as queries:
        one_statement.insert_rows(rows)

    assert len([q for q in queries.captured_queries if q["sql"].startswith("INSERT")]) == 3
    positions = [row.position for row in rows]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert list(Event.objects.order_by("position").values_list("data__n", flat=True)) == [0, 1, 2, 3, 4]


def test_rows_whose_sql_differs_go_through_bulk_create(shop, monkeypatch):
    rows = new_events(2)
    rows[1].recorded_at = Now()  # an expression of its own: another SQL than the first row's
    bulk = []
    manager = type(Event._default_manager)
    original = manager.bulk_create
    monkeypatch.setattr(manager, "bulk_create", lambda self, objs, **kw: bulk.append(len(objs)) or original(self, objs))
    one_statement.insert_rows(rows)

    assert bulk == [2]
    assert Event.objects.count() == 2 and all(row.position for row in rows)
