"""The shop-floor dashboard in a real browser (Debian's Chromium), served by gunicorn as `make run` serves it: a day of
work seeded through the services, every chart drawn with data, nothing fetched from outside this machine.

The screenshot lands in var/screenshots/shop-floor.png.
"""

from datetime import timedelta

import pytest

from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from tests.support.browser import screenshot
from tests.support.builders import workplace
from tests.support.clock import nov26
from tests.support.factories import InspectorFactory, TechnicianFactory, spec
from tests.support.rules import use_rules

pytestmark = [pytest.mark.browser]

DASHBOARD = "/ops/shop-floor/?from=2026-11-20&to=2026-11-26"
CHARTS = ["#pause-budget", "#by-status", "#cycle-times", "#first-pass", "#leaderboard"]


@pytest.fixture
def worked_day(shop):
    """On 2026-11-26 (UTC, 30 minutes of pause a day): two more technicians' finished tickets, one failed once
    and one with a pause that ran out and was resumed automatically; the shop's own technician is still working."""
    use_rules(nov26(0), daily_pause_limit_seconds=1800, timezone="UTC")
    inspector = InspectorFactory()
    first, second = TechnicianFactory(username="ana"), TechnicianFactory(username="bo")

    def finished(technician, start, stop, *, pause=None, fail_at=None):
        item, parts = workplace()
        specs = [spec(part, minutes) for part, minutes in zip(parts, (25, 20), strict=True)]
        opened = start - timedelta(hours=1)
        made = workflow.create_ticket(
            inventory_item_id=item.pk, title="bench", part_specs=specs, master=shop.master, at=opened
        ).ticket
        workflow.approve_ticket_review(ticket_id=made.pk, actor=shop.admin, at=start - timedelta(minutes=50))
        workflow.assign_ticket(
            ticket_id=made.pk, technician_id=technician.pk, actor=shop.master, at=start - timedelta(minutes=40)
        )
        workflow.start_ticket(ticket_id=made.pk, actor=technician, at=start)
        if pause:
            paused, resumed = pause
            sessions.pause_work_session(ticket_id=made.pk, actor=technician, at=paused)
            if resumed is None:  # left paused: the budget runs out and the sweep resumes it at the deadline
                session = made.work_sessions.get()
                session.refresh_from_db()
                sessions.auto_resume_work_session(session_id=session.pk, at=session.auto_resume_at)
            else:
                sessions.resume_work_session(ticket_id=made.pk, actor=technician, at=resumed)
        sessions.stop_work_session(ticket_id=made.pk, actor=technician, at=stop)
        workflow.move_ticket_to_waiting_qc(ticket_id=made.pk, actor=technician, at=stop + timedelta(minutes=1))
        if fail_at:
            workflow.fail_ticket_qc(ticket_id=made.pk, actor=inspector, at=fail_at)
            workflow.start_ticket(ticket_id=made.pk, actor=technician, at=fail_at + timedelta(minutes=5))
            sessions.stop_work_session(ticket_id=made.pk, actor=technician, at=fail_at + timedelta(minutes=35))
            workflow.move_ticket_to_waiting_qc(ticket_id=made.pk, actor=technician, at=fail_at + timedelta(minutes=36))
            stop = fail_at + timedelta(minutes=36)
        workflow.pass_ticket_qc(ticket_id=made.pk, actor=inspector, at=stop + timedelta(minutes=20))

    finished(first, nov26(7), nov26(10), pause=(nov26(8, 30), nov26(8, 45)))
    finished(first, nov26(12), nov26(14, 30), fail_at=nov26(15))
    finished(second, nov26(10, 30), nov26(16), pause=(nov26(13), None))
    return first, second


def test_the_dashboard_draws_every_chart_with_data_and_stays_local(browsing, sign_in, worked_day):
    page = browsing.page
    sign_in()
    page.goto(DASHBOARD)
    page.wait_for_load_state("networkidle")
    screenshot(page, "shop-floor")

    assert browsing.outside() == [], "the dashboard asked for something outside this machine"
    assert browsing.failures == [], browsing.failures
    assert page.locator("#site-name").count() == 1  # inside the admin's layout
    assert "UTC" in page.locator(".range .zone").inner_text()

    rows = page.locator("#timelines tr.technician")
    names = [rows.nth(n).locator("td").first.inner_text() for n in range(rows.count())]
    assert {"ana", "bo"} <= set(names)
    bo = page.locator("#timelines tr.technician", has_text="bo")
    assert bo.locator("rect.segment.running").count() >= 2
    assert bo.locator("rect.segment.paused").count() == 1
    assert bo.locator("rect.auto-resume").count() == 1  # 13:30, when the 30 minutes ran out
    widths = [float(w) for w in bo.locator("rect.segment").evaluate_all("els => els.map(e => e.getAttribute('width'))")]
    assert sum(widths) == pytest.approx(1000 * 5.5 / 24, abs=0.5)  # 10:30-16:00 of a 24-hour day

    for chart in CHARTS:
        svg = page.locator(f"{chart} svg.pygal-chart")
        assert svg.count() == 1, chart
        assert svg.locator(".no_data").count() == 0, f"{chart} says it has no data"
        drawn = svg.locator(".series .value, .series rect.rect, .series path.line, .series circle.dot")
        assert drawn.count() > 0, f"{chart} has no data elements"


def test_a_bad_date_is_explained_and_the_default_range_shown(browsing, sign_in, worked_day):
    page = browsing.page
    sign_in()
    response = page.goto("/ops/shop-floor/?from=2026-02-30")
    assert response.status == 400
    assert "from" in page.locator(".errornote").inner_text()
    assert page.locator("#by-status svg.pygal-chart").count() == 1


def test_the_dashboard_is_for_signed_in_staff(browsing, shop):
    page = browsing.page
    page.goto("/ops/shop-floor/")
    assert "/admin/login/" in page.url
