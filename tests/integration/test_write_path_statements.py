"""What applying a command costs PostgreSQL, per command type: the statements a ticket's life runs (issue 17), so
a change that adds a round trip to the write path is seen here before it is seen in `make bench`."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.commands.models import Command
from apps.commands.processing import drain_lane
from apps.common.time import utc_now
from apps.ticket import services_metrics as metrics
from apps.ticket.locking import lock_ticket
from apps.ticket.models import TicketPartSpec
from apps.ticket.representations import part_spec_data, ticket_data
from tests.support.builders import pending_command
from tests.support.factories import spec

# Statements of the command's transaction, from the lane lock to the outcome's UPDATE, savepoints included, BEGIN
# and COMMIT not (bench counts the same way). BENCHMARKS.md quotes these; lower them here as the write path gets
# cheaper.
STATEMENT_BUDGET = {
    "ticket.start": 12,
    "work_session.pause": 8,
    "work_session.resume": 8,
    "work_session.stop": 8,
    "ticket.to_waiting_qc": 8,
    "ticket.qc_pass": 10,
}
LIFE = [
    ("ticket.start", "technician"),
    ("work_session.pause", "technician"),
    ("work_session.resume", "technician"),
    ("work_session.stop", "technician"),
    ("ticket.to_waiting_qc", "technician"),
    ("ticket.qc_pass", "inspector"),
]


@pytest.mark.django_db(transaction=True)  # real transactions: no test savepoints counted in
def test_each_step_of_a_ticket_life_runs_within_its_statement_budget(shop):
    # At the real time: the pause's deadline then lies ahead, so no live worker's auto-resume (a suite may run
    # one) adds a command to the lane while it is counted.
    shop.clock = utc_now
    ticket = shop.assigned()
    counted = {}
    for command_type, who in LIFE:
        actor = shop.inspector if who == "inspector" else shop.technician
        command = pending_command(actor, command_type, at=shop.tick(), ticket_id=ticket.pk)
        with CaptureQueriesContext(connection) as queries:
            assert drain_lane(f"ticket:{ticket.pk}") == 1
        assert Command.objects.get(pk=command.pk).status == "succeeded"
        counted[command_type] = len(in_the_transaction(q["sql"] for q in queries.captured_queries))

    over = {kind: (n, STATEMENT_BUDGET[kind]) for kind, n in counted.items() if n > STATEMENT_BUDGET[kind]}
    assert not over, f"statements over budget (counted, budget): {over}"


@pytest.mark.django_db
def test_part_specs_read_with_the_ticket_lock_are_the_live_specs_as_the_api_shows_them(shop):
    ticket = shop.create(minutes=(25, 20))
    specs = [spec(part, minutes, comment=f"part {minutes}") for part, minutes in zip(shop.parts, (30, 15), strict=True)]
    metrics.set_ticket_part_specs(ticket_id=ticket.pk, part_specs=specs, actor=shop.master, at=shop.tick())
    assert TicketPartSpec.objects.filter(ticket=ticket, deleted_at__isnull=False).count() == 2  # left out below

    live = TicketPartSpec.objects.alive().filter(ticket=ticket).order_by("id")
    with transaction.atomic():
        locked = lock_ticket(ticket.pk, with_part_specs=True)
    assert locked.part_specs_read == [part_spec_data(row) for row in live]
    assert ticket_data(locked) == ticket_data(lock_ticket_plain(ticket.pk))


@pytest.mark.django_db
def test_a_ticket_without_part_specs_reads_an_empty_list(shop):
    ticket = shop.create(minutes=(25,))
    metrics.set_ticket_part_specs(ticket_id=ticket.pk, part_specs=[], actor=shop.master, at=shop.tick())
    with transaction.atomic():
        assert lock_ticket(ticket.pk, with_part_specs=True).part_specs_read == []


def in_the_transaction(statements) -> list[str]:
    """The statements the command's own transaction runs: up to its COMMIT (after it, a process may ask whether
    a webhook is active, at most every 2 s: apps/webhooks/kick.py), and without the re-read of the active rules a
    process makes at most every 2 s whatever it applies (apps/rules/selectors.py). Either would make the count
    depend on the clock."""
    counted = []
    for sql in statements:
        if sql == "COMMIT":
            return counted
        if sql != "BEGIN" and 'FROM "rules_version"' not in sql:
            counted.append(sql)
    raise AssertionError("the command's transaction never committed")


def lock_ticket_plain(ticket_id: int):
    with transaction.atomic():
        return lock_ticket(ticket_id)
