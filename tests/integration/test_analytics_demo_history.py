"""`seed_demo` leaves the dashboard something to show: the demo technicians' last days, worked through the services."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.analytics.demo_history import DAYS, local_day_of
from apps.demo.management.commands.seed_demo import STORY_LENGTH
from tests.support.clock import frozen, nov26

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _demo_mode(settings):
    settings.DEBUG = True


def test_the_demo_technicians_have_worked_each_of_the_last_days(api):
    out = StringIO()
    with frozen(nov26(12)) as now:  # pinned at midday: the story's first day is today, the past days before it
        call_command("seed_demo", stdout=out, stderr=StringIO())
    today = local_day_of(now - STORY_LENGTH)  # the past days are the DAYS days before the story's first day
    span = f"from={today - timedelta(days=DAYS)}&to={today - timedelta(days=1)}"
    admin = User.objects.get(username="demo-admin")

    for username in ("demo-tech-1", "demo-tech-2", "demo-tech-3"):
        technician = User.objects.get(username=username)
        days = api.get(f"/api/v1/analytics/technicians/{technician.pk}/days?{span}", admin).json()["items"]
        assert len(days) == DAYS
        assert all(day["active_seconds"] > 3600 and day["paused_seconds"] > 0 for day in days), username
    tickets = api.get(f"/api/v1/analytics/tickets?{span}", admin).json()
    assert tickets["done"] >= 3 * 2 * DAYS  # the demo story's own done ticket falls in the range just after midnight
    assert 0 < tickets["first_pass_rate"] < 1  # demo-tech-2's first job fails QC once a day
    summary = api.get(f"/api/v1/analytics/technicians?{span}", admin).json()["items"]
    assert sum(item["auto_resumes"] for item in summary) == 2 * DAYS
    assert "/ops/shop-floor/" in out.getvalue()
