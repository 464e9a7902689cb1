"""Shared pieces of the HTTP API: bearer auth, cursor pagination, list envelopes."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.security import HttpBearer

from apps.accounts.models import ApiToken, hash_token
from apps.common.problems import Problem, validation_problem


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        user = ApiToken.authenticate(token)
        if user is not None:
            request.user = user
            request.token_key = hash_token(token)[:24]  # identifies the token (rate limits) without exposing it
        return user


class ListQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200)


def require_role(user, *roles: str) -> None:
    if not user.has_role(*roles):
        raise Problem(403, "forbidden", f"requires one of the roles: {', '.join(roles)}")


def paginate(
    queryset: QuerySet,
    *,
    query: ListQuery,
    key: str = "pk",
    descending: bool = False,
    render: Callable[[Any], dict],
) -> dict:
    """Keyset pagination on a unique, indexed `key`; the cursor is opaque to clients."""
    ordered = queryset.order_by(f"-{key}" if descending else key)
    after = decode_cursor(query.cursor)
    if after is not None:
        ordered = ordered.filter(**{f"{key}__{'lt' if descending else 'gt'}": after})
    rows = list(ordered[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(getattr(rows[-1], key)) if more else None
    return {"items": [render(row) for row in rows], "next_cursor": next_cursor}


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": value}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))["k"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        value = None
    if not isinstance(value, int) or isinstance(value, bool):
        raise validation_problem([{"loc": ["query", "cursor"], "msg": "not a cursor this API issued"}])
    return value
