"""The operator's admin: staff only, a review queue whose bulk approve queues commands, a command browser."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.commands.models import Command
from apps.common.time import utc_now
from tests.support.factories import AdminFactory, InspectorFactory, TechnicianFactory


@pytest.fixture
def staff_admin(db):
    user = AdminFactory(is_staff=True, is_superuser=True)
    user.set_password("pw-for-tests")
    user.save()
    return user


def test_the_admin_requires_a_staff_login(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    technician = TechnicianFactory()
    technician.set_password("pw")
    technician.save()
    client.force_login(technician)
    assert client.get("/admin/").status_code == 302  # logged in, but not staff


def test_bulk_approve_in_the_review_queue_queues_one_command_per_ticket(client, staff_admin, shop):
    tickets = [shop.create(item=item, minutes=()) for item in _items(3)]
    client.force_login(staff_admin)
    url = reverse("admin:ticket_ticketreviewqueue_changelist")
    assert client.get(url).status_code == 200

    response = client.post(
        url, {"action": "approve_review", helpers.ACTION_CHECKBOX_NAME: [t.pk for t in tickets]}, follow=True
    )

    assert response.status_code == 200
    commands = Command.objects.filter(type="ticket.approve_review").order_by("ticket_id")
    assert [(c.ticket_id, c.submitter_id, c.actor_id, c.status) for c in commands] == [
        (t.pk, staff_admin.pk, staff_admin.pk, "pending") for t in tickets
    ]


def test_the_command_browser_lists_and_filters_commands(client, staff_admin, shop):
    ticket = shop.create()
    client.force_login(staff_admin)
    Command.objects.create(
        type="ticket.qc_pass",
        payload={"ticket_id": ticket.pk},
        lane=f"ticket:{ticket.pk}",
        ticket_id=ticket.pk,
        submitter=staff_admin,
        actor=staff_admin,
        fingerprint="x",
        status="rejected",
        error_code="invalid_transition",
        error_message="cannot pass QC",
        submitted_at=shop.now,
        occurred_at=shop.now,
        effective_at=shop.now,
        finished_at=shop.now,
    )
    url = reverse("admin:commands_command_changelist")
    page = client.get(url, {"status__exact": "rejected", "error_code": "invalid_transition"})
    assert page.status_code == 200
    assert b"invalid_transition" in page.content and b"ticket.qc_pass" in page.content


def test_the_admin_names_every_model_as_a_person_would(client, staff_admin):
    client.force_login(staff_admin)
    index = client.get(reverse("admin:index")).content.decode()
    for label in ("API tokens", "XP entries", "Tickets under review", "Work sessions", "Commands"):
        assert f">{label}</a>" in index, label
    for clumsy in ("Api tokens", "Xp entrys", "Review queue</a>"):
        assert clumsy not in index, clumsy


def test_the_user_list_names_roles_as_written(client, staff_admin):
    InspectorFactory(username="inspector-with-label")
    client.force_login(staff_admin)
    page = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "QC inspector" in _cells(page, "role_names") and "qc_inspector" not in _cells(page, "role_names")


def test_the_review_queue_counts_tickets_under_review(client, staff_admin, shop):
    for item in _items(2):
        shop.create(item=item, minutes=())
    client.force_login(staff_admin)
    page = client.get(reverse("admin:ticket_ticketreviewqueue_changelist")).content.decode()
    assert "<h1>Review queue</h1>" in page
    assert "2 tickets under review" in page and "2 review queue" not in page


def test_ticket_labels_times_and_durations_read_well(client, staff_admin, shop):
    """Statuses as written ("Waiting QC"), instants to the second with their zone, durations as h:mm:ss."""
    shop.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    ticket = shop.waiting_qc()
    session = ticket.work_sessions.get()
    client.force_login(staff_admin)

    tickets = client.get(reverse("admin:ticket_ticket_changelist")).content.decode()
    assert "Waiting QC" in tickets and "Waiting Qc" not in tickets
    change = client.get(reverse("admin:ticket_ticket_change", args=[ticket.pk])).content.decode()
    assert "2026-11-26 09:01:00 UTC" in change  # created a minute after the shop's clock started
    assert "To waiting QC" in change
    # The session ran from its start to its stop, a minute apart (the shop's clock), in whole seconds.
    assert session.active_seconds == 60
    assert _cells(change, "active_time") == _cells(change, "live_active_time") == ["0:01:00"]
    assert "60.000000" not in change


def test_a_running_session_shows_its_live_active_time(client, staff_admin, shop):
    """Its stored figure counts up to its latest event (its start, so 0:00:00); the live one up to now."""
    session = shop.started().work_session
    client.force_login(staff_admin)
    hours_ago = (utc_now() - session.started_at) // timedelta(hours=1)
    for url in (
        reverse("admin:ticket_ticket_change", args=[session.ticket_id]),
        reverse("admin:ticket_worksession_changelist"),
    ):
        page = client.get(url).content.decode()
        assert _cells(page, "active_time") == ["0:00:00"], url
        [live] = _cells(page, "live_active_time")
        assert _hours(live) >= hours_ago, url
    page = client.get(reverse("admin:ticket_worksession_change", args=[session.pk])).content.decode()
    assert _readonly(page, "Active") == "0:00:00"
    assert _hours(_readonly(page, "Active (live)")) >= hours_ago


def _cells(page: str, field: str) -> list[str]:
    """The text of one field's cells in a changelist or a tabular inline."""
    return re.findall(rf'<td class="field-{field}">\s*(?:<p>)?([^<]*?)(?:</p>)?\s*</td>', page)


def _readonly(page: str, label: str) -> str:
    """A change page's read-only value, by its label."""
    return re.search(rf"<label>{re.escape(label)}:</label>\s*<div class=\"readonly\">([^<]*)</div>", page).group(1)


def _hours(clock: str) -> int:
    hours, minutes, seconds = clock.split(":")
    assert minutes.isdigit() and seconds.isdigit() and len(minutes) == len(seconds) == 2, clock
    return int(hours)


def _items(count):
    from tests.support.factories import InventoryItemFactory

    return [InventoryItemFactory() for _ in range(count)]
