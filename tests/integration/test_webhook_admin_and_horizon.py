"""The webhook admin (deliveries with their attempts, a redeliver action), and the dispatcher reading through the
feed's horizon: an event that commits late, below a position already committed, is still delivered, in order."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from apps.common.time import utc_now
from apps.events.feed import horizon
from apps.webhooks.dispatch import dispatch_all
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, Webhook, WebhookDelivery
from apps.webhooks.signing import new_secret
from tests.integration.test_admin import staff_admin  # noqa: F401 (a fixture)
from tests.integration.test_events_horizon import draw, open_writer


def delivered(webhook, position: int) -> WebhookDelivery:
    now = utc_now()
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event_position=position,
        event_id=uuid.uuid4(),
        event_type="ticket.created",
        event_recorded_at=now,
        order_key="t1",
        status=DeliveryStatus.DELIVERED,
        attempts=1,
        finished_at=now,
        give_up_at=now + timedelta(hours=24),
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, started_at=now, duration_ms=42, response_status=204, response_excerpt="thanks"
    )
    return delivery


@pytest.mark.django_db
def test_the_admin_shows_deliveries_with_attempts_and_redelivers(client, staff_admin):  # noqa: F811
    webhook = Webhook.objects.create(url="https://93.184.215.14/", event_types=["*"], secret=new_secret())
    delivery = delivered(webhook, position=5)
    client.force_login(staff_admin)

    index = client.get(reverse("admin:index")).content.decode()
    page = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])).content.decode()
    hook_page = client.get(reverse("admin:webhooks_webhook_change", args=[webhook.pk])).content.decode()
    acted = client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "redeliver_selected", helpers.ACTION_CHECKBOX_NAME: [delivery.pk]},
        follow=True,
    )

    assert ">Webhooks</a>" in index and ">Webhook deliveries</a>" in index
    assert "thanks" in page and "204" in page
    assert webhook.secret not in hook_page
    assert "Queued 1 new deliveries" in acted.content.decode()
    again = WebhookDelivery.objects.get(event_position=5, redelivery=1)
    assert (again.status, again.event_id) == (DeliveryStatus.PENDING, delivery.event_id)


@pytest.mark.django_db(transaction=True)
def test_an_event_that_commits_late_is_dispatched_and_in_position_order():
    webhook = Webhook.objects.create(url="https://93.184.215.14/", event_types=["*"], secret=new_secret())
    Webhook.objects.filter(pk=webhook.pk).update(cursor=horizon())
    with open_writer() as late:
        first = draw(late)  # drawn, not committed yet
        with open_writer() as early:
            second = draw(early)
            early.commit()  # the higher position commits first
        dispatch_all()
        assert list(WebhookDelivery.objects.values_list("event_position", flat=True)) == []
        late.commit()

    dispatch_all()

    positions = list(WebhookDelivery.objects.order_by("id").values_list("event_position", flat=True))
    assert positions == [first, second]
    assert Webhook.objects.get(pk=webhook.pk).cursor >= second
