"""AUTO_RESUME_ETA: on (the default), a pause schedules its auto-resume as an ETA job after commit; off, it schedules
nothing and the beat sweep alone resumes the session (how the benchmark measures the sweep's punctuality)."""

import pytest
from celery import current_app

from apps.common.tasks import TaskName
from apps.ticket import services_work_session as sessions

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kwargs: calls.append((name, kwargs)))
    return calls


def pause(shop):
    ticket = shop.started().ticket
    return sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick()).work_session


@pytest.mark.parametrize(("eta", "jobs"), [(True, 1), (False, 0)])
def test_a_pause_schedules_an_eta_job_only_when_the_setting_is_on(
    shop, settings, published, django_capture_on_commit_callbacks, eta, jobs
):
    settings.AUTO_RESUME_ETA = eta
    with django_capture_on_commit_callbacks(execute=True):
        session = pause(shop)
    assert [name for name, _ in published] == [TaskName.AUTO_RESUME] * jobs
    if jobs:
        assert published[0][1]["eta"] == session.auto_resume_at
    assert session.auto_resume_at is not None  # the deadline is stored either way: the sweep's truth
