"""A worker task reuses the database connection of the task before it, as a web request does.

Celery's Django fixup closed the connection before and after every task (CELERY_DB_REUSE_MAX unset), so every task
paid for a new PostgreSQL backend: 17 ms on the benchmark machine, a PostgreSQL process forked and torn down per
task. The worker now keeps it, and drops only a broken or too old one (CONN_MAX_AGE), between tasks.
"""

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from config.celery import app
from workers.commands import sweep_stale_commands

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in a worker


@pytest.fixture(autouse=True)
def persistent_connection(monkeypatch):
    """Production keeps a connection for CONN_MAX_AGE seconds; the test settings keep none."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.ensure_connection()
    yield
    connection.close()


def task_boundary() -> None:
    """What a worker runs between two tasks: the fixup's handlers, then ticketflow's."""
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_postrun(sender=sweep_stale_commands)
    task_postrun.send(sender=sweep_stale_commands, task_id="t1", task=sweep_stale_commands, args=(), kwargs={})
    fixup.on_task_prerun(sender=sweep_stale_commands)
    task_prerun.send(sender=sweep_stale_commands, task_id="t2", task=sweep_stale_commands, args=(), kwargs={})


def test_the_next_task_reuses_the_connection():
    before = connection.connection
    task_boundary()
    assert connection.connection is before
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_a_broken_connection_is_replaced_between_tasks():
    broken = connection.connection
    broken.close()
    connection.errors_occurred = True  # as Django marks it when a query hits a dead connection
    task_boundary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not broken
