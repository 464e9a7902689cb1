"""A plain `celery -A config worker` (no -Q) consumes every queue the project uses (API.md, "Operations"): the
auto-resumes on `timers` and the stale-command sweep on `maintenance` run, not only the commands."""

from datetime import timedelta

import pytest
import redis
from celery import current_app
from django.conf import settings

from apps.commands.models import Command
from apps.common.tasks import TaskName
from apps.common.time import utc_now
from apps.ticket.models import WorkSession
from apps.ticket.services_work_session import pause_work_session
from tests.support.builders import Shop, pending_command, workplace
from tests.support.factories import AdminFactory, MasterFactory, TechnicianFactory
from tests.support.processes import (
    ProcessTree,
    celery_argv,
    node_name,
    process_env,
    wait_until,
    wait_worker_ready,
)
from tests.support.rules import use_rules

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_queues():
    """Queue names of this test alone: the session's e2e worker (listening on this run's queues) never sees them."""
    names = {kind: f"test-{settings.RUN_ID}-noq-{kind}" for kind in ("commands", "timers", "maintenance")}
    yield names
    redis.Redis.from_url(settings.REDIS_URL).delete(*names.values())


@pytest.fixture
def plain_worker(own_queues):
    """`celery -A config worker` as an operator types it: no -Q."""
    node = node_name(f"noq-{settings.RUN_ID}")
    env = process_env(
        CELERY_QUEUE_COMMANDS=own_queues["commands"],
        CELERY_QUEUE_TIMERS=own_queues["timers"],
        CELERY_QUEUE_MAINTENANCE=own_queues["maintenance"],
    )
    argv = celery_argv("worker", "-n", node, "-c", "2", "--without-mingle", "--without-gossip", "--loglevel", "INFO")
    process = ProcessTree(f"noq-worker-{settings.RUN_ID}", argv, env).start()
    try:
        wait_worker_ready(process, node, broker_url=settings.REDIS_URL)
        yield process, node
    finally:
        process.stop()


def test_a_worker_without_q_consumes_the_timers_and_maintenance_queues(plain_worker, own_queues, settings):
    process, node = plain_worker
    settings.AUTO_RESUME_ETA = False  # only the sweep sent below may resume the session
    queues = current_app.control.inspect(destination=[node], timeout=5).active_queues() or {}
    assert {queue["name"] for queue in queues.get(node, [])} >= set(own_queues.values()), queues

    shop = Shop(admin=AdminFactory(), master=MasterFactory())
    start = utc_now() - timedelta(minutes=15)
    use_rules(start, daily_pause_limit_seconds=60)
    shop.now = start

    # A paused session whose budget ran out minutes ago: only the sweep on `timers` resumes it.
    item, parts = workplace()
    paused_tech = TechnicianFactory()
    ticket = shop.started(technician=paused_tech, item=item, parts=parts).ticket
    paused = pause_work_session(ticket_id=ticket.pk, actor=paused_tech, at=shop.tick()).work_session
    assert paused.auto_resume_at < utc_now() - timedelta(minutes=5)

    # A command whose queue message was lost: only the stale sweep on `maintenance` re-queues its lane.
    item, parts = workplace()
    waiting_tech = TechnicianFactory()
    assigned = shop.assigned(technician=waiting_tech, item=item, parts=parts)
    stranded = pending_command(waiting_tech, "ticket.start", at=utc_now() - timedelta(minutes=1), ticket_id=assigned.pk)

    current_app.send_task(TaskName.SWEEP_DUE_AUTO_RESUMES, queue=own_queues["timers"])
    current_app.send_task(TaskName.SWEEP_STALE_COMMANDS, queue=own_queues["maintenance"])

    wait_until(
        lambda: WorkSession.objects.get(pk=paused.pk).status == "running",
        what="the auto-resume swept from the timers queue",
        timeout=30,
        process=process,
    )
    wait_until(
        lambda: Command.objects.get(pk=stranded.pk).status == "succeeded",
        what="the stranded command re-queued by the maintenance sweep",
        timeout=30,
        process=process,
    )
    assert WorkSession.objects.get(pk=paused.pk).transitions.filter(action="resumed").get().event_at == (
        paused.auto_resume_at
    )
