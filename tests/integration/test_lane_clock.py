"""A command's time is read once its lane is locked.

Read before, two workers racing for one lane (a ticket's commands each queue a message) could apply a later command
at an earlier instant than the one the other worker applied meanwhile: the session then refuses the event as going
back in time, and a valid pause comes out `rejected` (`invalid_transition`). The benchmark found it at 4 workers.
"""

import pytest
from django.db import connection

from apps.commands.models import Command
from apps.commands.processing import drain_lane

pytestmark = pytest.mark.django_db


def test_the_clock_is_read_while_the_lane_lock_is_held(shop):
    ticket = shop.assigned()
    for command_type in ("ticket.start", "work_session.pause"):
        Command.objects.create(
            type=command_type,
            payload={"ticket_id": ticket.pk},
            lane=f"ticket:{ticket.pk}",
            ticket_id=ticket.pk,
            submitter=shop.technician,
            actor=shop.technician,
            fingerprint="-",
            submitted_at=shop.tick(),
        )
    locks_held = []

    def clock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
            )
            locks_held.append(cursor.fetchone()[0])
        return shop.tick(1)

    assert drain_lane(f"ticket:{ticket.pk}", clock=clock) == 2
    assert locks_held[0] == 1  # the first reading already holds the lane's lock
    assert len(locks_held) == 2 and all(locks_held)  # start and pause; the pause was seen to be the last pending
    assert list(Command.objects.order_by("seq").values_list("status", flat=True)) == ["succeeded", "succeeded"]
