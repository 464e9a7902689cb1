"""Secrets and Standard Webhooks signatures (the `standardwebhooks` package signs; nothing here hand-rolls HMAC)."""

import base64
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from standardwebhooks import Webhook as StandardWebhook

from apps.webhooks.models import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (API.md)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(webhook: Webhook, *, at: datetime) -> list[str]:
    """The secrets a delivery at `at` is signed with: the current one, and the previous one for
    WEBHOOK_SECRET_OVERLAP_SECONDS after a rotation."""
    overlap = timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_SECONDS)
    if webhook.previous_secret and webhook.secret_rotated_at and at < webhook.secret_rotated_at + overlap:
        return [webhook.secret, webhook.previous_secret]
    return [webhook.secret]


def signature_header(secrets_in_force: list[str], *, message_id: str, timestamp: datetime, body: str) -> str:
    """`v1,<sig>` per secret, space-separated (the Standard Webhooks spec allows several)."""
    return " ".join(
        StandardWebhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body) for secret in secrets_in_force
    )
