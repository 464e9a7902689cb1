"""The Celery application: `celery -A config worker|beat|flower`."""

import os

from celery import Celery
from celery.signals import beat_init, import_modules, task_postrun, task_prerun
from django.db import connections

from config.logging import log_uncaught_exceptions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ticketflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks")


@task_prerun.connect
@task_postrun.connect
def recycle_database_connections(**_signal_kwargs) -> None:
    """Between tasks as between web requests: drop a connection that is broken or older than CONN_MAX_AGE, keep the
    others. (Celery's own Django fixup would open a new connection for every task: see CELERY_DB_REUSE_MAX.)
    A task run inside its caller's transaction (eagerly, in a test) leaves that connection alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@import_modules.connect
def log_an_uncaught_exception_as_one_record(**_signal_kwargs) -> None:
    """In the worker and beat (the programs that import the task modules), before they start: an exception that
    ends the process is one JSON record (config/logging.py), as everything else they log."""
    log_uncaught_exceptions()


@beat_init.connect
def send_no_task_sent_events_from_beat(sender, **_signal_kwargs) -> None:
    """Beat sends only periodic jobs, nearly all of them the every-few-seconds sweeps: their `task-sent` events would
    bury Flower's task list (the sweeps themselves send no worker events: workers/sweeps.py)."""
    # Under the Django name: with the CELERY namespace, a setting's prefixed name is looked up before the bare one.
    sender.app.conf["CELERY_TASK_SEND_SENT_EVENT"] = False
