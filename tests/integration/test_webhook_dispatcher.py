"""One webhook dispatcher at a time, and it goes on while commits keep coming (apps/webhooks/kick.py): a commit
during a pass publishes nothing and is seen by the dispatcher's next pass; a commit after its last pass publishes
the next dispatcher; passes start at least PASS_INTERVAL_SECONDS apart (the setting WEBHOOK_DISPATCH_INTERVAL_MS);
a dispatcher that has gone on for DISPATCHER_SECONDS hands on to a new task. Real Redis flags, real commits; the
tasks published are counted, not run."""

import os
import threading
import time
import uuid

import pytest
from django.core.cache import cache
from django.db import connection

from apps.common.tasks import TaskName
from apps.webhooks import kick, tasks
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.tasks import dispatch_webhooks
from tests.support.processes import run_python
from tests.support.webhooks import record_ticket_events, webhook_for

# Commits for real: the kicks run on commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _private_queue_and_flags(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.CELERY_QUEUE_WEBHOOKS = f"dispatcher-{uuid.uuid4().hex[:8]}-webhooks"  # no worker consumes it
    cache.delete_many([kick.DISPATCHER_FLAG, kick.PENDING_FLAG])
    yield
    cache.delete_many([kick.DISPATCHER_FLAG, kick.PENDING_FLAG])


def dispatches(published: list[str]) -> int:
    return published.count(TaskName.DISPATCH_WEBHOOKS)


def test_commits_while_a_dispatcher_is_queued_publish_nothing_more(receiver, published):
    webhook_for(receiver)
    record_ticket_events(-1)
    record_ticket_events(-2)
    record_ticket_events(-3)

    assert dispatches(published) == 1  # the first commit's; the dispatcher it published has not started


def test_a_commit_during_a_pass_is_seen_by_the_next_pass_of_the_same_dispatcher(receiver, published, monkeypatch):
    webhook_for(receiver)
    record_ticket_events(-1)
    published.clear()
    passes = []
    one_pass = tasks._dispatch_and_send

    def pass_with_a_commit_in_it(*args, **kwargs):
        passes.append(1)
        claimed = one_pass(*args, **kwargs)
        if len(passes) == 1:
            record_ticket_events(-2)  # commits while this dispatcher holds the flag
        return claimed

    monkeypatch.setattr(tasks, "_dispatch_and_send", pass_with_a_commit_in_it)
    assert dispatch_webhooks() == 2

    assert len(passes) == 2
    assert dispatches(published) == 0  # no task for the commit: the running dispatcher took it
    assert published.count(TaskName.DELIVER_WEBHOOK) == 2  # a share from each pass
    assert not WebhookDelivery.objects.filter(enqueued_at__isnull=True).exists()


def test_a_commit_after_the_last_pass_publishes_the_next_dispatcher(receiver, published):
    webhook_for(receiver)
    record_ticket_events(-1)
    dispatch_webhooks()
    published.clear()

    record_ticket_events(-2)

    assert dispatches(published) == 1


def test_a_dispatcher_that_has_gone_on_long_enough_hands_on_to_a_new_task(receiver, published, monkeypatch):
    webhook_for(receiver)
    record_ticket_events(-1)
    published.clear()
    monkeypatch.setattr(tasks, "DISPATCHER_SECONDS", 0)
    one_pass = tasks._dispatch_and_send

    def pass_with_a_commit_in_it(*args, **kwargs):
        claimed = one_pass(*args, **kwargs)
        record_ticket_events(-2)
        return claimed

    monkeypatch.setattr(tasks, "_dispatch_and_send", pass_with_a_commit_in_it)
    dispatch_webhooks()

    assert dispatches(published) == 1  # the next dispatcher, for the commit the last pass left
    assert WebhookDelivery.objects.filter(enqueued_at__isnull=True).count() == 1  # the next dispatcher's to claim


def test_passes_start_an_interval_apart_and_a_commit_while_the_dispatcher_waits_publishes_nothing(
    receiver, published, monkeypatch
):
    interval = 0.4
    monkeypatch.setattr(tasks, "PASS_INTERVAL_SECONDS", interval)
    webhook_for(receiver)
    record_ticket_events(-1)
    published.clear()
    started: list[float] = []
    one_pass = tasks._dispatch_and_send

    def timed_pass(*args, **kwargs):
        started.append(time.monotonic())
        claimed = one_pass(*args, **kwargs)
        if len(started) == 1:
            # Commits while the dispatcher waits out its interval, from another connection.
            waiting = threading.Timer(interval / 4, _commit_in_a_thread_of_its_own, args=(-2,))
            waiting.start()
            waiting_commits.append(waiting)
        return claimed

    waiting_commits: list[threading.Timer] = []
    monkeypatch.setattr(tasks, "_dispatch_and_send", timed_pass)
    assert dispatch_webhooks() == 2
    waiting_commits[0].join()

    assert len(started) == 2
    assert started[1] - started[0] >= interval  # the second pass waited for the rest of the interval
    assert dispatches(published) == 0  # the commit found the flag held: the waiting dispatcher took it
    assert not WebhookDelivery.objects.filter(enqueued_at__isnull=True).exists()


def _commit_in_a_thread_of_its_own(ticket_id: int) -> None:
    try:
        record_ticket_events(ticket_id)
    finally:
        connection.close()


def test_the_pass_interval_is_the_setting_in_milliseconds(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_DISPATCH_INTERVAL_MS=350\n")
    code = "from apps.webhooks import kick; print(kick.PASS_INTERVAL_SECONDS)"
    result = run_python("manage.py", "shell", "-c", code, env=fresh_env(env_file), timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0.35"


@pytest.mark.parametrize("raw", ["-1", "2001"])
def test_a_pass_interval_out_of_range_is_refused_by_name(tmp_path, raw):
    env_file = tmp_path / ".env"
    env_file.write_text(f"WEBHOOK_DISPATCH_INTERVAL_MS={raw}\n")
    result = run_python("manage.py", "check", env=fresh_env(env_file), timeout=60, check=False)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"WEBHOOK_DISPATCH_INTERVAL_MS={raw}" in result.stderr


def fresh_env(env_file) -> dict[str, str]:
    """A fresh process's environment: debug settings, `env_file` as its only .env, no interval of the caller's."""
    env = {key: value for key, value in os.environ.items() if key != "WEBHOOK_DISPATCH_INTERVAL_MS"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="1", TICKETFLOW_ENV_FILE=str(env_file))
    return env
