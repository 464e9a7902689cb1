"""A rules change's background re-derivations are recorded per version once they have run, and beat's sweep re-queues
the ones the latest version still lacks (their messages lost with Redis, their worker killed)."""

from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from apps.common import tasks as task_sending
from apps.common.tasks import TaskName
from apps.rules import followups
from apps.rules.models import RederivationJob, RulesRederivation, RulesVersion
from apps.ticket import services_rules_change
from tests.support.builders import working_since
from tests.support.clock import at_instant, nov26
from tests.support.records import reloaded
from tests.support.rules import change_rules_at, use_rules
from tests.support.sessions import pause
from workers import rules as rules_tasks

pytestmark = pytest.mark.django_db

LONGER_PAUSES_MORE_XP = {"ticket_xp": {"base_divisor": 5}, "work_session": {"daily_pause_limit_seconds": 3600}}


@pytest.fixture
def requeued(monkeypatch):
    """What the sweep sends, instead of the broker: (task, args, queue)."""
    sent = []
    monkeypatch.setattr(
        followups, "send_task_rollback_unsafe", lambda name, *, args, queue, eta=None: sent.append((name, args, queue))
    )
    return sent


def sweep(at) -> int:
    return at_instant(at, lambda now: rules_tasks.sweep_missed_rederivations())


def recorded(row) -> set[str]:
    return set(RulesRederivation.objects.filter(rules_version=row).values_list("job", flat=True))


@pytest.fixture
def paused_and_open(shop):
    """Under 1800 s a day: a ticket of 45 planned minutes (3 XP), its session paused at 10:00 (due 10:30)."""
    use_rules(nov26(8), daily_pause_limit_seconds=1800, timezone="UTC")
    ticket = working_since(shop, nov26(9))
    session = pause(ticket, shop.technician, nov26(10))
    assert (ticket.xp_amount, reloaded(session).auto_resume_at) == (3, nov26(10, 30))
    return ticket, session


def test_a_version_whose_rederivations_were_lost_is_requeued_and_recorded_once_they_ran(paused_and_open, requeued):
    ticket, session = paused_and_open
    changed_at = nov26(10, 5)
    row = change_rules_at(changed_at, LONGER_PAUSES_MORE_XP)  # never commits here: its jobs are never queued

    assert sweep(changed_at + timedelta(seconds=5)) == 0  # young: its own messages may still be on their way
    assert requeued == []
    assert sweep(changed_at + timedelta(seconds=rules_tasks.REQUEUE_AFTER_SECONDS + 1)) == 2
    assert requeued == [
        (TaskName.RECOMPUTE_TICKET_METRICS, [row.pk], settings.CELERY_QUEUE_MAINTENANCE),
        (TaskName.RECOMPUTE_PAUSE_DEADLINES, [row.pk], settings.CELERY_QUEUE_TIMERS),
    ]
    assert recorded(row) == set()  # queued again is not done

    at_instant(nov26(10, 6), lambda now: rules_tasks.recompute_ticket_metrics(row.pk))
    assert reloaded(ticket).xp_amount == 9  # 45 minutes / 5
    assert recorded(row) == {RederivationJob.TICKET_METRICS}
    requeued.clear()
    assert sweep(nov26(10, 7)) == 1
    assert requeued == [(TaskName.RECOMPUTE_PAUSE_DEADLINES, [row.pk], settings.CELERY_QUEUE_TIMERS)]

    at_instant(nov26(10, 8), lambda now: rules_tasks.recompute_pause_deadlines(row.pk))
    assert reloaded(session).auto_resume_at == nov26(11)
    assert recorded(row) == {RederivationJob.TICKET_METRICS, RederivationJob.PAUSE_DEADLINES}
    requeued.clear()
    assert sweep(nov26(10, 9)) == 0
    assert requeued == []

    assert at_instant(nov26(10, 10), lambda now: rules_tasks.recompute_pause_deadlines(row.pk)) == 0  # a repeat
    assert RulesRederivation.objects.filter(rules_version=row).count() == 2


def test_a_job_for_an_older_version_runs_under_the_latest_and_the_change_it_came_with(paused_and_open, requeued):
    ticket, session = paused_and_open
    first = change_rules_at(nov26(10, 5), {"work_session": {"daily_pause_limit_seconds": 600}})
    latest = change_rules_at(nov26(10, 20), LONGER_PAUSES_MORE_XP)

    at_instant(nov26(10, 21), lambda now: rules_tasks.recompute_pause_deadlines(first.pk))  # its message came late
    at_instant(nov26(10, 21), lambda now: rules_tasks.recompute_ticket_metrics(first.pk))

    assert reloaded(session).auto_resume_at == nov26(11)  # 3600 s from 10:00, never 600 s clamped to 10:05
    assert reloaded(ticket).xp_amount == 9
    assert recorded(latest) == {RederivationJob.TICKET_METRICS, RederivationJob.PAUSE_DEADLINES}
    assert recorded(first) == set()  # superseded: nothing is owed to it
    assert sweep(nov26(10, 30)) == 0


def test_a_version_made_while_its_job_runs_is_rederived_before_the_job_lets_go(paused_and_open, monkeypatch):
    ticket, _ = paused_and_open
    row = change_rules_at(nov26(10, 5), {"ticket_xp": {"base_divisor": 15}})
    real = services_rules_change.recompute_auto_metrics
    made_meanwhile = []

    def recompute_while_rules_change(**kwargs):
        changed = real(**kwargs)
        if not made_meanwhile:  # its own message will find this job busy and return at once
            made_meanwhile.append(change_rules_at(nov26(10, 6), LONGER_PAUSES_MORE_XP))
        return changed

    monkeypatch.setattr(services_rules_change, "recompute_auto_metrics", recompute_while_rules_change)
    at_instant(nov26(10, 7), lambda now: rules_tasks.recompute_ticket_metrics(row.pk))

    assert reloaded(ticket).xp_amount == 9
    assert recorded(row) == recorded(made_meanwhile[0]) == {RederivationJob.TICKET_METRICS}


def test_a_job_another_worker_is_running_returns_at_once(paused_and_open):
    ticket, _ = paused_and_open
    row = change_rules_at(nov26(10, 5), LONGER_PAUSES_MORE_XP)
    key = f"rules-rederivation:{RederivationJob.TICKET_METRICS}"
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])

        assert at_instant(nov26(10, 6), lambda now: rules_tasks.recompute_ticket_metrics(row.pk)) == 0

    assert reloaded(ticket).xp_amount == 3  # left to the worker holding the job
    assert recorded(row) == set()


def test_with_redis_failing_during_put_rules_the_new_version_is_read_and_rederived(
    api, admin, nobody, monkeypatch, django_capture_on_commit_callbacks, requeued
):
    def redis_away(*args, **kwargs):
        raise ConnectionError("Redis is away")

    assert api.get("/api/v1/rules", nobody).json()["version"] == 1
    with monkeypatch.context() as outage:
        outage.setattr("django.core.cache.cache.set", redis_away)
        outage.setattr(task_sending, "send_task_rollback_unsafe", redis_away)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            answer = api.put("/api/v1/rules", {"config": LONGER_PAUSES_MORE_XP, "reason": "during an outage"}, admin)
        assert len(callbacks) == 4  # publish and the two jobs, all lost; and the event feed's announcement

    assert (answer.status_code, answer.json()["version"]) == (200, 2)
    assert api.get("/api/v1/rules", nobody).json()["version"] == 2
    row = RulesVersion.objects.get(version=2)
    assert sweep(row.created_at + timedelta(seconds=rules_tasks.REQUEUE_AFTER_SECONDS + 1)) == 2
    assert [(name, args) for name, args, _ in requeued] == [
        (TaskName.RECOMPUTE_TICKET_METRICS, [row.pk]),
        (TaskName.RECOMPUTE_PAUSE_DEADLINES, [row.pk]),
    ]
