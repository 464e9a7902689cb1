"""/api/v1/webhooks: webhooks that push events to upstream systems (admin only), their deliveries, redelivery."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from django.db import transaction
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict, model_validator

from apps.accounts.models import Role
from apps.common import time as clock
from apps.common.api import MAX_ID, ListQuery, paginate, require_role
from apps.common.problems import Problem
from apps.common.text import storable_text
from apps.events.feed import UnknownEventType, horizon, matching_types
from apps.webhooks import redelivery
from apps.webhooks.dispatch import EVERY_TYPE
from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.representations import delivery_data, webhook_data
from apps.webhooks.signing import new_secret
from apps.webhooks.targets import RefusedTarget, resolve

router = Router(tags=["webhooks"])


def _allowed_target(url: str) -> str:
    storable_text(url)
    try:
        resolve(url)
    except RefusedTarget as refused:
        raise ValueError(str(refused)) from None
    return url


def _known_event_type(pattern: str) -> str:
    if pattern != EVERY_TYPE:
        try:
            matching_types(pattern)
        except UnknownEventType as error:
            raise ValueError(str(error)) from None
    return pattern


TargetUrl = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_allowed_target)]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_event_type)]],
    Field(min_length=1, max_length=100, description='event types or prefixes ("work_session.*"); ["*"]: every type'),
]
Description = Annotated[str, Field(max_length=500), AfterValidator(storable_text)]
DeliveryStatusName = Literal["pending", "delivered", "failed"]


class WebhookIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="NewWebhook")
    url: TargetUrl
    event_types: EventTypes = Field(default_factory=lambda: [EVERY_TYPE])
    description: Description = ""


class WebhookChangesIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="WebhookChanges")
    url: TargetUrl = None
    event_types: EventTypes = None
    description: Description = None
    active: bool = None


class WebhookOut(Schema):
    model_config = ConfigDict(title="Webhook")
    id: int
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime


class CreatedWebhookOut(WebhookOut):
    model_config = ConfigDict(title="CreatedWebhook")
    secret: str = Field(..., description="`whsec_` + base64 of 32 random bytes; shown here and on rotation only")


class WebhookPage(Schema):
    items: list[WebhookOut]
    next_cursor: str | None


class WebhookSecretOut(Schema):
    model_config = ConfigDict(title="WebhookSecret")
    secret: str


class DeliveryAttemptOut(Schema):
    model_config = ConfigDict(title="WebhookDeliveryAttempt")
    number: int
    started_at: datetime
    duration_ms: int
    response_status: int | None
    error: str | None


class DeliveryOut(Schema):
    model_config = ConfigDict(title="WebhookDelivery")
    event_id: uuid.UUID
    event_position: int
    event_type: str
    status: DeliveryStatusName
    next_attempt_at: datetime | None
    attempts: list[DeliveryAttemptOut]


class DeliveryPage(Schema):
    model_config = ConfigDict(title="WebhookDeliveryPage")
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryFilters(ListQuery):
    status: DeliveryStatusName | None = None


class RedeliveryIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="WebhookRedelivery")
    after_position: int | None = Field(None, ge=0, le=MAX_ID, description="redeliver the events after this position")
    event_id: uuid.UUID | None = Field(None, strict=False, description="redeliver this one event (its id)")

    @model_validator(mode="after")
    def one_of_them(self):
        if (self.after_position is None) == (self.event_id is None):
            raise ValueError("give either after_position or event_id")
        return self


class RedeliveryOut(Schema):
    model_config = ConfigDict(title="WebhookRedeliveryQueued")
    queued: int = Field(..., description="new deliveries created (events already pending are not doubled)")


@router.post(
    "",
    response={201: CreatedWebhookOut},
    operation_id="createWebhook",
    summary="Register a webhook (admin)",
    description=(
        "It receives the events recorded from now on that match `event_types`. The `secret` is shown in this "
        "answer only. A URL whose host resolves to an internal address (loopback, private, link-local...) is "
        "refused (422)."
    ),
)
def create_webhook(request, body: WebhookIn):
    require_role(request.user, Role.ADMIN)
    with transaction.atomic():
        webhook = Webhook.objects.create(
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            secret=new_secret(),
            cursor=horizon(),
        )
    webhook.refresh_from_db(fields=["created_at"])
    return Status(201, {**webhook_data(webhook), "secret": webhook.secret})


@router.get("", response=WebhookPage, operation_id="listWebhooks", summary="List webhooks (admin)")
def list_webhooks(request, query: Query[ListQuery]):
    require_role(request.user, Role.ADMIN)
    return paginate(Webhook.objects.all(), query=query, render=webhook_data)


@router.get("/{int:webhook_id}", response=WebhookOut, operation_id="getWebhook", summary="One webhook (admin)")
def get_webhook(request, webhook_id: int):
    require_role(request.user, Role.ADMIN)
    return webhook_data(_webhook_or_404(webhook_id))


@router.patch(
    "/{int:webhook_id}",
    response=WebhookOut,
    operation_id="updateWebhook",
    summary="Change a webhook (admin)",
    description="Reactivated (`active: true`), it receives the events recorded from then on.",
)
def update_webhook(request, webhook_id: int, body: WebhookChangesIn):
    require_role(request.user, Role.ADMIN)
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        nulls = [name for name, value in changes.items() if value is None]
        raise Problem(
            422,
            "validation_error",
            "the request is not valid",
            errors=[{"loc": ["body", name], "msg": "must not be null"} for name in nulls],
        )
    with transaction.atomic():
        webhook = get_object_or_404(Webhook.objects.select_for_update(), pk=_id(webhook_id))
        if changes.get("active") and not webhook.active:
            webhook.cursor = max(webhook.cursor, horizon())
        for name, value in changes.items():
            setattr(webhook, name, value)
        webhook.save()
    return webhook_data(webhook)


@router.delete(
    "/{int:webhook_id}",
    response={204: None},
    operation_id="deleteWebhook",
    summary="Deactivate a webhook (admin); its history is kept",
)
def delete_webhook(request, webhook_id: int):
    require_role(request.user, Role.ADMIN)
    if not Webhook.objects.filter(pk=_id(webhook_id)).update(active=False):
        raise Problem(404, "not_found", f"webhook {webhook_id} does not exist")
    return Status(204, None)


@router.post(
    "/{int:webhook_id}/rotate-secret",
    response=WebhookSecretOut,
    operation_id="rotateWebhookSecret",
    summary="Issue a new secret (admin)",
    description="For 24 h after a rotation deliveries carry both signatures, the new secret's and the old one's.",
)
def rotate_webhook_secret(request, webhook_id: int):
    require_role(request.user, Role.ADMIN)
    with transaction.atomic():
        webhook = get_object_or_404(Webhook.objects.select_for_update(), pk=_id(webhook_id))
        webhook.previous_secret, webhook.secret = webhook.secret, new_secret()
        webhook.secret_rotated_at = clock.database_now()
        webhook.save(update_fields=["previous_secret", "secret", "secret_rotated_at"])
    return {"secret": webhook.secret}


@router.get(
    "/{int:webhook_id}/deliveries",
    response=DeliveryPage,
    operation_id="listWebhookDeliveries",
    summary="A webhook's deliveries and their attempts, newest first (admin)",
)
def list_webhook_deliveries(request, webhook_id: int, filters: Query[DeliveryFilters]):
    require_role(request.user, Role.ADMIN)
    webhook = _webhook_or_404(webhook_id)
    deliveries = WebhookDelivery.objects.filter(webhook=webhook).prefetch_related("attempt_rows")
    if filters.status is not None:
        deliveries = deliveries.filter(status=filters.status)
    return paginate(deliveries, query=filters, descending=True, render=delivery_data)


@router.post(
    "/{int:webhook_id}/redeliver",
    response={202: RedeliveryOut},
    operation_id="redeliverWebhookEvents",
    summary="Deliver events again (admin)",
    description=(
        "Queues new deliveries of the events this webhook was sent after `after_position`, or of the one "
        "`event_id`; an event whose delivery is still pending is not doubled."
    ),
)
def redeliver_webhook_events(request, webhook_id: int, body: RedeliveryIn):
    require_role(request.user, Role.ADMIN)
    webhook = _webhook_or_404(webhook_id)
    if body.event_id is not None and not webhook.deliveries.filter(event_id=body.event_id).exists():
        raise Problem(404, "not_found", f"webhook {webhook_id} was never sent event {body.event_id}")
    queued = redelivery.redeliver(webhook, after_position=body.after_position, event_id=body.event_id)
    return Status(202, {"queued": queued})


def _id(webhook_id: int) -> int:
    return webhook_id if 0 < webhook_id <= MAX_ID else 0


def _webhook_or_404(webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(pk=_id(webhook_id)).first()
    if webhook is None:
        raise Problem(404, "not_found", f"webhook {webhook_id} does not exist")
    return webhook
