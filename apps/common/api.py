"""Shared pieces of the HTTP API: cursor pagination, list envelopes, roles, JSON bodies."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.parser import Parser

from apps.common.problems import Problem, validation_problem


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


def json_body(request) -> Any:
    """The request body as JSON: 415 unless declared application/json, 413 over the limit, 400 unless JSON."""
    content_type = request.content_type or ""
    if content_type.lower() != "application/json":
        raise Problem(415, "unsupported_media_type", "send the body as application/json")
    limit = settings.COMMAND_MAX_BODY_BYTES
    too_large = Problem(413, "payload_too_large", f"the body is over {limit // 1024} KiB")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(raw) > limit:
        raise too_large
    try:
        return json.loads(raw, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates)
    except (ValueError, RecursionError):
        raise Problem(400, "malformed_json", "the body is not valid JSON") from None
    except _DuplicateKey as exc:
        raise validation_problem([{"loc": ["body"], "msg": f"duplicate key {exc.key!r} in an object"}]) from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON leaves duplicate names undefined and parsers disagree on which wins; refuse the ambiguity.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return obj


class JsonBodyParser(Parser):
    """Ninja's body parser, held to the same rules as command bodies (config/api.py unwraps the Problem)."""

    def parse_body(self, request) -> Any:
        return json_body(request)
