"""Precompiled reads (apps/common/precompiled.py) give what their querysets give, bound to each call's arguments.

The command path's locking reads (apps/ticket/locking.py) are composed once per connection; these tests hold them
to the ORM's own answer for the same queryset, call after call with different arguments, and check the guards that
keep a read from being precompiled wrongly.
"""

from datetime import date, datetime

import pytest
from django.db import connection, transaction
from django.db.models import OuterRef
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from apps.common.errors import DomainError, ErrorCode
from apps.common.precompiled import PrecompiledRead
from apps.rules.selectors import active_rules
from apps.ticket import locking
from apps.ticket import services_work_session as sessions
from apps.ticket.models import Ticket, WorkSession, WorkSessionTransition
from apps.ticket.representations import part_specs_as_read
from apps.ticket.selectors import budget_day_bounds, pause_history_as_read
from tests.support.clock import utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def paused_once(shop):
    """A ticket in progress whose session was paused 10:00-10:05 and runs again, on 2026-11-26."""
    ticket = shop.started().ticket
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=utc(2026, 11, 26, 10))
    sessions.resume_work_session(ticket_id=ticket.pk, actor=shop.technician, at=utc(2026, 11, 26, 10, 5))
    return ticket


def day_bounds(day: date):
    return budget_day_bounds(utc(day.year, day.month, day.day, 12), active_rules().config.work_session)


def as_orm_reads(ticket_id: int, technician_id: int, day: date) -> WorkSession:
    return (
        WorkSession.domain.open_for_ticket(ticket_id)
        .select_related("technician")
        .annotate(
            history_read=WorkSessionTransition.domain.history_as_read(OuterRef("pk")),
            budget_read=pause_history_as_read(technician_id, *day_bounds(day)),
        )
        .get()
    )


def columns(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_open_session_with_its_technician_history_and_budget_is_the_orms(shop, paused_once):
    expected = as_orm_reads(paused_once.pk, shop.technician.pk, date(2026, 11, 26))
    with transaction.atomic():
        session = locking.lock_open_session_of_ticket(
            paused_once.pk, budget_of=(shop.technician.pk, *day_bounds(date(2026, 11, 26)))
        )
        with CaptureQueriesContext(connection) as queries:
            technician = session.technician  # loaded with the session, as select_related does
            history = session.events()  # adopted from the same read

    assert len(queries) == 0
    assert columns(session) == columns(expected)
    assert columns(technician) == columns(expected.technician)
    assert session.history_read == expected.history_read
    assert [event.to_status for event in history] == ["running", "paused", "running"]
    assert session.budget_read == expected.budget_read
    assert len(session.budget_read) == 3  # the day's history of the technician's sessions


def test_each_call_binds_its_own_arguments(shop, paused_once):
    with transaction.atomic():
        same_day = locking.lock_open_session_of_ticket(
            paused_once.pk, budget_of=(shop.technician.pk, *day_bounds(date(2026, 11, 26)))
        )
        day_before = locking.lock_open_session_of_ticket(
            paused_once.pk, budget_of=(shop.technician.pk, *day_bounds(date(2026, 11, 25)))
        )
        other_technician = locking.lock_open_session_of_ticket(
            paused_once.pk, budget_of=(shop.inspector.pk, *day_bounds(date(2026, 11, 26)))
        )
        no_ticket = locking.lock_open_session_of_ticket(paused_once.pk + 1000)
        again = locking.lock_open_session_of_ticket(paused_once.pk)

    assert len(same_day.budget_read) == 3
    assert day_before.budget_read == []  # the session began on the 26th
    assert other_technician.budget_read == []
    assert no_ticket is None
    assert again.pk == same_day.pk


def test_the_ticket_with_its_part_specs_is_the_orms(shop, paused_once):
    expected = Ticket.domain.alive().annotate(part_specs_read=part_specs_as_read(OuterRef("pk"))).get(pk=paused_once.pk)
    with transaction.atomic():
        ticket = locking.lock_ticket(paused_once.pk, with_part_specs=True)
        bare = locking.lock_ticket(paused_once.pk)
        with pytest.raises(DomainError) as missing:
            locking.lock_ticket(paused_once.pk + 1000)
        technician = locking.lock_technician(shop.technician.pk)

    assert columns(ticket) == columns(expected) == columns(bare)
    assert ticket.part_specs_read == expected.part_specs_read
    assert len(ticket.part_specs_read) == len(shop.parts)
    assert not hasattr(bare, "part_specs_read")
    assert missing.value.code == ErrorCode.NOT_FOUND
    assert technician.pk == shop.technician.pk


def test_the_reads_lock_the_rows_they_return(shop, paused_once):
    with transaction.atomic():
        locking.lock_ticket(paused_once.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND pid = pg_backend_pid()")
            holds_a_transaction_id = cursor.fetchone()[0]
    # A row lock (FOR UPDATE) writes the row's xmax, which gives the transaction an id of its own.
    assert holds_a_transaction_id == 1


@pytest.mark.django_db(transaction=True)  # autocommit between the blocks, as outside a test
def test_a_locking_read_outside_a_transaction_is_refused(paused_once):
    with transaction.atomic():
        locking.lock_ticket(paused_once.pk)  # composed, inside a transaction
    with pytest.raises(TransactionManagementError):
        locking.lock_ticket(paused_once.pk)


def test_an_argument_that_does_not_reach_the_sql_is_refused(paused_once):
    ignores_its_argument = PrecompiledRead(lambda ticket_id: Ticket.domain.alive()[:1])
    with pytest.raises(ValueError, match="does not reach its SQL"):
        ignores_its_argument(paused_once.pk)


def test_only_ints_and_aware_datetimes_are_bound_on_every_call(shop, paused_once):
    by_name = PrecompiledRead(lambda status: Ticket.domain.filter(status=status)[:1])
    with pytest.raises(TypeError):
        by_name("in_progress")
    with transaction.atomic():
        locking.lock_ticket(paused_once.pk)  # composed: later calls are checked all the same
        with pytest.raises(TypeError):
            locking.lock_ticket(str(paused_once.pk))
        with pytest.raises(TypeError):
            locking.lock_open_session_of_ticket(
                paused_once.pk, budget_of=(shop.technician.pk, datetime(2026, 11, 26), datetime(2026, 11, 27))
            )
