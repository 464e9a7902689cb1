"""The stale-command sweep re-sends a lane as soon as it goes stale, then backs off with the lane's age.

Under a backlog every pending lane is "stale" without being lost; nudging each one every stale window flooded the
queue with duplicates that the workers then had to drain before the real backlog (the benchmark measured more
duplicate lane messages than commands). A lane now waits as long again as it already has, up to a cap.
"""

import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from apps.commands.models import Command
from apps.common.time import utc_now
from tests.factories import TechnicianFactory
from workers import commands as command_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    lanes = []
    monkeypatch.setattr(command_tasks, "send_lane_rollback_unsafe", lambda lane, **kwargs: lanes.append(lane))
    return lanes


def pending(lane: str, *, age_seconds: float) -> None:
    user = TechnicianFactory()
    Command.objects.create(
        type="ticket.start",
        payload={"ticket_id": 1},
        lane=lane,
        ticket_id=1,
        submitter=user,
        actor=user,
        fingerprint="-",
        submitted_at=utc_now() - timedelta(seconds=age_seconds),
    )


def nudge_ttl(lane: str) -> int:
    return redis.Redis.from_url(settings.REDIS_URL).ttl(cache.make_and_validate_key(f"sweep:lane:{lane}"))


def test_a_lane_is_nudged_once_it_is_stale_and_then_after_as_long_again_as_it_waited(sent):
    fresh, young, old, ancient = (f"ticket:test-{uuid.uuid4().hex}" for _ in range(4))
    pending(fresh, age_seconds=1)
    pending(young, age_seconds=settings.COMMAND_STALE_AFTER_SECONDS + 1)
    pending(old, age_seconds=20)
    pending(ancient, age_seconds=3600)

    command_tasks.sweep_stale_commands()

    assert sorted(sent) == sorted([young, old, ancient])  # the fresh one is not stale yet
    assert settings.COMMAND_STALE_AFTER_SECONDS <= nudge_ttl(young) <= settings.COMMAND_STALE_AFTER_SECONDS + 1
    assert 18 <= nudge_ttl(old) <= 20
    assert command_tasks.MAX_NUDGE_INTERVAL - 2 <= nudge_ttl(ancient) <= command_tasks.MAX_NUDGE_INTERVAL

    command_tasks.sweep_stale_commands()
    assert len(sent) == 3  # nothing is nudged twice within its window
