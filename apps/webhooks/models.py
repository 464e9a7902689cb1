"""Webhooks, one delivery row per (webhook, event) and an append-only attempt row per try.

A delivery copies what it needs of its event (position, id, type, ordering key, when it was recorded): the event
log is pruned by retention, the delivery history is not.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from apps.common.append_only import AppendOnlyModel


class Webhook(models.Model):
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list, help_text='event types or prefixes ("ticket.*"); ["*"]: every type')
    description = models.CharField(max_length=500, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(db_default=Now())
    # Stored as the API shows them (`whsec_` + base64): the signing key is needed in clear to sign.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # The feed position up to which this webhook's deliveries have been created (apps/webhooks/dispatch.py).
    cursor = models.BigIntegerField(default=0)

    class Meta:
        db_table = "webhook"
        constraints = [
            models.CheckConstraint(name="webhook_cursor_not_negative", condition=Q(cursor__gte=0)),
            models.CheckConstraint(
                name="webhook_previous_secret_has_rotation_time",
                condition=Q(previous_secret="") | Q(secret_rotated_at__isnull=False),
            ),
            models.CheckConstraint(name="webhook_secret_is_whsec", condition=Q(secret__startswith="whsec_")),
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    # No index of its own: the listing index and the unique (webhook, event_position, redelivery) lead with it.
    webhook = models.ForeignKey(Webhook, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    event_position = models.BigIntegerField()
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    event_recorded_at = models.DateTimeField()
    # Deliveries sharing a key go out one at a time in position order: "t<ticket>", else "u<technician>", else none.
    order_key = models.CharField(max_length=32, null=True, blank=True)
    # 0: the delivery the event made; n: the n-th redelivery asked for (API.md: "new deliveries of the same event").
    redelivery = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    give_up_at = models.DateTimeField(help_text="after this instant a failed attempt fails the delivery")
    # When a task was last sent for it: the sweep sends again only if that is long past (a lost message).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "event_position", "redelivery"], name="webhook_delivery_once_per_round"
            ),
            # A redelivery asked for while the event is still pending would only duplicate it.
            models.UniqueConstraint(
                fields=["webhook", "event_position"],
                condition=Q(status="pending"),
                name="webhook_delivery_one_pending_per_event",
            ),
            models.CheckConstraint(name="webhook_delivery_status_known", condition=Q(status__in=DeliveryStatus.values)),
            # Pending: waiting for its next attempt. Delivered or failed: final, with when it became so.
            models.CheckConstraint(
                name="webhook_delivery_pending_has_next_attempt",
                condition=Q(status="pending", next_attempt_at__isnull=False, finished_at__isnull=True)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True, finished_at__isnull=False)),
            ),
            models.CheckConstraint(
                name="webhook_delivery_delivered_after_an_attempt",
                condition=~Q(status="delivered") | Q(attempts__gte=1),
            ),
            models.CheckConstraint(
                name="webhook_delivery_gives_up_after_event", condition=Q(give_up_at__gt=F("event_recorded_at"))
            ),
        ]
        indexes = [
            # The head of each ordering key (apps/webhooks/delivery.py) and the due deliveries the sweep sends.
            models.Index(
                fields=["webhook", "order_key", "event_position", "id"],
                condition=Q(status="pending"),
                name="webhook_delivery_pending_key",
            ),
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["webhook", "status", "id"], name="webhook_delivery_listing"),
        ]

    def __str__(self) -> str:
        return f"delivery of event #{self.event_position} to webhook {self.webhook_id} ({self.status})"


RESPONSE_EXCERPT_BYTES = 1024


class DeliveryAttempt(AppendOnlyModel):
    # No index of its own: the unique (delivery, number) leads with it.
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="attempt_rows", db_index=False)
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="", help_text="the first bytes of the response body")

    class Meta:
        db_table = "webhook_delivery_attempt"
        verbose_name = "delivery attempt"
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_once"),
            models.CheckConstraint(name="webhook_attempt_number_positive", condition=Q(number__gte=1)),
            # An attempt either got an answer or failed with an error saying why (a refused target, a timeout).
            models.CheckConstraint(
                name="webhook_attempt_answered_or_error",
                condition=Q(response_status__isnull=False) | Q(error__isnull=False),
            ),
            models.CheckConstraint(
                name="webhook_attempt_status_is_http",
                condition=Q(response_status__isnull=True) | Q(response_status__gte=100, response_status__lte=599),
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
