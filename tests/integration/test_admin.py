"""The operator's admin: staff only, a review queue whose bulk approve queues commands, a command browser."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.commands.models import Command
from tests.support.factories import AdminFactory, TechnicianFactory


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


def _items(count):
    from tests.support.factories import InventoryItemFactory

    return [InventoryItemFactory() for _ in range(count)]
