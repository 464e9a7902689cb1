"""The rules-change recompute beside live commands, on two real connections: a command holds its transaction open
on a ticket while the recompute's batch reaches that ticket and waits for it; the command commits; the ticket ends
as the specs and status it committed say under the new rules.
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from apps.rules.config import DEFAULT_CONFIG, TicketXpConfig
from apps.rules.models import RulesVersion
from apps.ticket import services_metrics as metrics
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket
from apps.ticket.services_rules_change import recompute_auto_metrics
from apps.xp.models import XpEntry
from tests.support.builders import workplace
from tests.support.clock import T0
from tests.support.factories import spec

pytestmark = pytest.mark.django_db(transaction=True)

NEW_XP_RULES = TicketXpConfig(base_divisor=5)  # 20 minutes: 4 XP (was 1); 300 minutes: 60 XP (was 15)
WAIT_SECONDS = 10


@pytest.fixture(autouse=True)
def rules_version():
    """A transactional test's database may have been emptied by an earlier one; the services need rules."""
    if not RulesVersion.objects.exists():
        RulesVersion.objects.create(version=1, config=DEFAULT_CONFIG, reason="defaults")


class InThread:
    """`call()` on a thread and a database connection of its own; with `hold=True` its transaction stays open,
    the work done but not committed, until `release()`."""

    def __init__(self, call: Callable[[], object], *, hold: bool = False):
        self.call, self.hold = call, hold
        self.done_uncommitted, self.released = threading.Event(), threading.Event()
        self.backend_pid: int | None = None
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
            if self.hold:
                with transaction.atomic():
                    self.result = self.call()
                    self.done_uncommitted.set()
                    assert self.released.wait(WAIT_SECONDS), "never released"
            else:
                self.result = self.call()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done_uncommitted.set()
            connection.close()

    def release(self):
        self.released.set()

    def join(self):
        self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive(), "still running (deadlock?)"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_blocked_on_a_lock(worker: InThread) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if worker.backend_pid is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [worker.backend_pid])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
        assert worker.thread.is_alive(), "finished without waiting for the command's row"
        time.sleep(0.02)
    raise AssertionError("the recompute never waited for the command's transaction")


def recompute_while(command: InThread) -> int:
    """Run the recompute while `command` holds its transaction; release it once the recompute waits for it."""
    assert command.done_uncommitted.wait(WAIT_SECONDS)
    recompute = InThread(lambda: recompute_auto_metrics(xp_rules=NEW_XP_RULES, at=T0.replace(hour=20), batch_size=50))
    wait_until_blocked_on_a_lock(recompute)
    command.release()
    command.join()
    return recompute.join()


def metrics_of(ticket: Ticket) -> tuple:
    ticket.refresh_from_db()
    return ticket.total_duration, ticket.flag_minutes, ticket.flag_color, ticket.xp_amount


def test_specs_replaced_while_the_recompute_waits_are_recomputed_as_committed(shop):
    ticket = shop.assigned(minutes=(10, 10))
    assert metrics_of(ticket) == (20, 20, "green", 1)
    replace = InThread(
        lambda: metrics.set_ticket_part_specs(
            ticket_id=ticket.pk, part_specs=[spec(shop.parts[0], 300, "red")], actor=shop.master, at=shop.tick()
        ),
        hold=True,
    )

    recompute_while(replace)

    assert metrics_of(ticket) == (300, 300, "red", 60)


def test_a_ticket_done_while_the_recompute_waits_keeps_the_xp_it_was_awarded(shop):
    ticket = shop.waiting_qc(minutes=(10, 10))
    assert metrics_of(ticket) == (20, 20, "green", 1)
    qc_pass = InThread(
        lambda: workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick()), hold=True
    )

    recompute_while(qc_pass)

    ticket.refresh_from_db()
    assert ticket.status == "done"
    base = XpEntry.objects.get(reference=f"ticket:{ticket.pk}:base")
    assert ticket.xp_amount == base.amount == 1
    assert metrics_of(ticket) == (20, 20, "green", 1)


def test_tickets_the_command_does_not_hold_are_recomputed_beside_it(shop):
    held = shop.assigned(minutes=(10, 10))
    other_item, other_parts = workplace()
    free = shop.assigned(minutes=(30, 35), item=other_item, parts=other_parts)
    replace = InThread(
        lambda: metrics.set_ticket_part_specs(
            ticket_id=held.pk, part_specs=[spec(shop.parts[0], 300, "red")], actor=shop.master, at=shop.tick()
        ),
        hold=True,
    )

    changed = recompute_while(replace)

    assert changed == 2
    assert metrics_of(held) == (300, 300, "red", 60)
    assert metrics_of(free) == (65, 65, "red", 13)
