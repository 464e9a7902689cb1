"""The Celery application: `celery -A config worker|beat|flower`."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import connections

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
