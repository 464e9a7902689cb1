"""Real threads, real connections, committed data: racing services end in one success and one domain refusal."""

import threading

import pytest
from django.db import connection

from apps.common.errors import DomainError, ErrorCode
from apps.rules.config import DEFAULT_CONFIG
from apps.rules.models import RulesVersion
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket, WorkSession
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory, TechnicianFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def rules_version():
    """A transactional test's database may have been emptied by an earlier one; the services need rules."""
    if not RulesVersion.objects.exists():
        RulesVersion.objects.create(version=1, config=DEFAULT_CONFIG, reason="defaults")


def run_at_once(*calls) -> list:
    """Run each call in its own thread, released together by a barrier. Returns each result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a racing service never finished (deadlock?)"
    return outcomes


def split(outcomes) -> tuple[list, list]:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    return [o for o in outcomes if not isinstance(o, BaseException)], errors


@pytest.mark.parametrize("round_", range(3))
def test_two_starts_for_one_technician_at_once_yield_one_session_and_technician_busy(shop, round_):
    technician = TechnicianFactory()
    tickets = []
    for _ in range(2):
        item = InventoryItemFactory()
        part = InventoryItemPartFactory(inventory_item=item)
        tickets.append(shop.assigned(technician=technician, item=item, parts=[part]))
    at = shop.tick()

    outcomes = run_at_once(
        *(lambda t=ticket: workflow.start_ticket(ticket_id=t.pk, actor=technician, at=at) for ticket in tickets)
    )

    succeeded, errors = split(outcomes)
    assert len(succeeded) == 1, outcomes
    assert len(errors) == 1 and isinstance(errors[0], DomainError), outcomes
    assert errors[0].code == ErrorCode.TECHNICIAN_BUSY
    winner = succeeded[0].ticket
    assert list(WorkSession.domain.open_for_technician(technician.pk).values_list("ticket_id", flat=True)) == [
        winner.pk
    ]
    statuses = dict(Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("pk", "status"))
    assert sorted(statuses.values()) == ["assigned", "in_progress"]
    assert statuses[winner.pk] == "in_progress"


@pytest.mark.parametrize("round_", range(3))
def test_two_creates_for_one_item_at_once_yield_one_ticket_and_active_ticket_exists(shop, round_):
    item = InventoryItemFactory()
    at = shop.tick()

    outcomes = run_at_once(
        *(
            lambda title=title: workflow.create_ticket(
                inventory_item_id=item.pk, title=title, part_specs=[], master=shop.master, at=at
            )
            for title in ("first", "second")
        )
    )

    succeeded, errors = split(outcomes)
    assert len(succeeded) == 1, outcomes
    assert len(errors) == 1 and isinstance(errors[0], DomainError), outcomes
    assert errors[0].code == ErrorCode.ACTIVE_TICKET_EXISTS
    assert list(Ticket.objects.filter(inventory_item=item).values_list("pk", flat=True)) == [succeeded[0].ticket.pk]
