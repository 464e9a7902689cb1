"""The webhook tables' invariants, attacked through the ORM and raw SQL: PostgreSQL itself must refuse."""

import uuid
from datetime import timedelta

import pytest

from apps.common.append_only import AppendOnlyError
from apps.common.time import utc_now
from apps.webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery
from apps.webhooks.signing import new_secret
from tests.integration.test_database_guards import refused_as_append_only, refused_by, sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook():
    return Webhook.objects.create(url="https://93.184.215.14/", event_types=["*"], secret=new_secret())


def pending_delivery(webhook, position=1, **fields) -> WebhookDelivery:
    recorded = utc_now()
    return WebhookDelivery.objects.create(
        webhook=webhook,
        event_position=position,
        event_id=uuid.uuid4(),
        event_type="ticket.created",
        event_recorded_at=recorded,
        order_key="t1",
        next_attempt_at=recorded,
        give_up_at=recorded + timedelta(hours=24),
        **fields,
    )


@pytest.fixture
def attempt_row(webhook):
    delivery = pending_delivery(webhook)
    return DeliveryAttempt.objects.create(
        delivery=delivery, number=1, started_at=utc_now(), duration_ms=12, response_status=500
    )


def test_attempts_are_append_only_in_the_orm(attempt_row):
    attempt_row.error = "rewritten"
    with pytest.raises(AppendOnlyError):
        attempt_row.save()
    with pytest.raises(AppendOnlyError):
        attempt_row.delete()
    with pytest.raises(AppendOnlyError):
        DeliveryAttempt.objects.filter(pk=attempt_row.pk).update(duration_ms=1)
    with pytest.raises(AppendOnlyError):
        DeliveryAttempt.objects.filter(pk=attempt_row.pk).delete()


def test_attempts_are_append_only_in_postgresql(attempt_row):
    with refused_as_append_only("UPDATE"):
        sql("UPDATE webhook_delivery_attempt SET response_status = 200 WHERE id = %s", [attempt_row.pk])
    with refused_as_append_only("DELETE"):
        sql("DELETE FROM webhook_delivery_attempt WHERE id = %s", [attempt_row.pk])
    assert DeliveryAttempt.objects.get(pk=attempt_row.pk).response_status == 500


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ("status = 'delivered', attempts = 1", "webhook_delivery_pending_has_next_attempt"),  # final, scheduled
        ("next_attempt_at = NULL", "webhook_delivery_pending_has_next_attempt"),  # pending, never to be tried
        ("finished_at = now()", "webhook_delivery_pending_has_next_attempt"),  # pending yet finished
        (
            "status = 'delivered', next_attempt_at = NULL, finished_at = now()",
            "webhook_delivery_delivered_after_an_attempt",
        ),
        ("status = 'lost', next_attempt_at = NULL, finished_at = now()", "webhook_delivery_status_known"),
        ("give_up_at = event_recorded_at", "webhook_delivery_gives_up_after_event"),
    ],
)
def test_a_delivery_state_that_contradicts_itself_is_refused(webhook, change, constraint):
    delivery = pending_delivery(webhook)

    with refused_by(constraint):
        sql(f"UPDATE webhook_delivery SET {change} WHERE id = %s", [delivery.pk])


def test_one_delivery_per_event_and_round_and_one_pending_per_event(webhook):
    first = pending_delivery(webhook, position=7)

    with refused_by("webhook_delivery_once_per_round"):
        sql(
            "UPDATE webhook_delivery SET status = 'failed', next_attempt_at = NULL, finished_at = now() WHERE id = %s",
            [first.pk],
        )
        pending_delivery(webhook, position=7)
    with refused_by("webhook_delivery_one_pending_per_event"):
        pending_delivery(webhook, position=7, redelivery=1)


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"number": 0, "response_status": 200}, "webhook_attempt_number_positive"),
        ({"number": 1, "response_status": None, "error": None}, "webhook_attempt_answered_or_error"),
        ({"number": 1, "response_status": 42}, "webhook_attempt_status_is_http"),
    ],
)
def test_an_attempt_must_be_numbered_and_say_what_happened(webhook, values, constraint):
    delivery = pending_delivery(webhook)

    with refused_by(constraint):
        DeliveryAttempt.objects.create(delivery=delivery, started_at=utc_now(), duration_ms=1, **values)


def test_an_attempt_number_is_used_once(attempt_row):
    with refused_by("webhook_attempt_number_once"):
        DeliveryAttempt.objects.create(
            delivery=attempt_row.delivery, number=1, started_at=utc_now(), duration_ms=1, error="again"
        )


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ("cursor = -1", "webhook_cursor_not_negative"),
        ("previous_secret = 'whsec_old'", "webhook_previous_secret_has_rotation_time"),
        ("secret = 'plain'", "webhook_secret_is_whsec"),
    ],
)
def test_a_webhook_row_that_contradicts_itself_is_refused(webhook, change, constraint):
    with refused_by(constraint):
        sql(f"UPDATE webhook SET {change} WHERE id = %s", [webhook.pk])
