"""Helpers for the pause-budget scheduling tests: a frozen clock, rules changes, and bulk rows built in SQL.

Every step runs with the process clock frozen (time-machine) at the same instant the service is given as
`at=`/`now=`, so code that reads the clock (rules rows' `created_at`, the sweep, the ETA task) agrees with it.
"""

from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import time_machine
from django.db import connection

from apps.rules.models import RulesVersion
from apps.rules.selectors import forget_cached_rules
from apps.rules.services import change_rules
from apps.ticket import selectors
from apps.ticket import services_work_session as sessions
from apps.ticket.models import Ticket, WorkSession
from tests.factories import InventoryItemFactory, InventoryItemPartFactory, TechnicianFactory

T = TypeVar("T")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@contextmanager
def frozen(instant: datetime):
    """The process clock stands still at `instant` for the block."""
    with time_machine.travel(instant, tick=False):
        yield instant


def at_instant(instant: datetime, call: Callable[[datetime], T]) -> T:
    """Run `call(instant)` with the clock frozen at `instant`."""
    with frozen(instant):
        return call(instant)


def use_rules(when: datetime, **work_session: Any) -> RulesVersion:
    """Append a rules version at `when` (ticket XP rules at their defaults) and make it the active one.

    In a `db` test the change never commits, so its on-commit publish never runs: drop the cached version instead.
    """
    with frozen(when):
        row = change_rules(config={"work_session": work_session}, reason="scheduling test", changed_by=None)
    forget_cached_rules()
    assert row.created_at == when
    return row


def use_xp_rules(when: datetime, **ticket_xp: Any) -> RulesVersion:
    with frozen(when):
        row = change_rules(config={"ticket_xp": ticket_xp}, reason="scheduling test", changed_by=None)
    forget_cached_rules()
    assert row.created_at == when
    return row


def working_since(shop, instant: datetime, *, technician=None, item=None, parts=None) -> Ticket:
    """A ticket in progress whose first session has been running since `instant` (set up a few minutes before)."""
    shop.now = instant - timedelta(minutes=4)  # create, approve, assign, start: one step a minute
    kwargs = {"item": item, "parts": parts} if item is not None else {}
    outcome = shop.started(technician=technician, **kwargs)
    assert outcome.work_session.started_at == instant
    return outcome.ticket


def another_workplace():
    """A second technician with an inventory item of their own (two parts), built by the factories."""
    item = InventoryItemFactory()
    parts = [InventoryItemPartFactory(inventory_item=item, name=name) for name in ("fork", "wheel")]
    return TechnicianFactory(), item, parts


def pause(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.pause_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def resume(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.resume_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def stop(ticket: Ticket, technician, when: datetime) -> WorkSession:
    return at_instant(
        when, lambda now: sessions.stop_work_session(ticket_id=ticket.pk, actor=technician, at=now).work_session
    )


def budget(technician, day, when: datetime) -> selectors.PauseBudget:
    return at_instant(when, lambda now: selectors.pause_budget_for(technician_id=technician.pk, day=day, now=now))


def fresh(session: WorkSession) -> WorkSession:
    return WorkSession.objects.get(pk=session.pk)


def steps(session: WorkSession) -> list[tuple]:
    """(action, event_at, actor_id) of the session's history, oldest first."""
    return list(session.transitions.order_by("event_at", "id").values_list("action", "event_at", "actor_id"))


# --- bulk rows in SQL --------------------------------------------------------------------------------------------


def execute(sql: str, params: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def check_constraints_immediately() -> None:
    """Django's foreign keys are DEFERRABLE INITIALLY DEFERRED and a `db` test never commits: check them per
    statement instead, so bulk rows that broke one would fail here rather than pass unnoticed."""
    execute("SET CONSTRAINTS ALL IMMEDIATE")


def insert_technicians(tag: str, count: int, *, at: datetime) -> int:
    """Technicians `<tag>-tech-1` .. `<tag>-tech-<count>`."""
    return execute(
        """
        INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined, roles, is_service)
        SELECT '!', false, %(tag)s || '-tech-' || g, '', '', '', false, true, %(at)s,
               ARRAY['technician']::varchar(20)[], false
        FROM generate_series(1, %(count)s) AS g
        """,
        {"tag": tag, "count": count, "at": at},
    )


def insert_items(tag: str, count: int, *, at: datetime, status: str = "ready") -> int:
    """Inventory items with serial numbers `<tag>-<n>`."""
    return execute(
        """
        INSERT INTO inventory_item (serial_number, name, category, status, created_at)
        SELECT %(tag)s || '-' || g, 'Bulk bike ' || g, 'bike', %(status)s, %(at)s
        FROM generate_series(1, %(count)s) AS g
        """,
        {"tag": tag, "count": count, "at": at, "status": status},
    )
