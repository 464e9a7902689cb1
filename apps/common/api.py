"""Shared pieces of the HTTP API: cursor pagination, list envelopes, roles, JSON bodies, dates in queries."""

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q, QuerySet
from ninja import Field, Schema
from ninja.parser import Parser

from apps.common.problems import Problem, validation_problem

# Ids are PostgreSQL bigints; a key outside them names no row and is no cursor this API issued.
MAX_ID = 2**63 - 1
# API.md: dates outside these are 422. Within them, a local day's bounds exist in every zone (UTC-12..+14).
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAY_FORMAT = f"YYYY-MM-DD, {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}"


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
    instant: str | None = None,
    descending: bool = False,
    render: Callable[[Any], dict],
) -> dict:
    """Keyset pagination on a unique, indexed `key`, or on (`instant`, `key`) for rows listed by a time that may
    repeat or disagree with the key's order (event time); the cursor is opaque to clients."""
    sign = "-" if descending else ""
    ordered = queryset.order_by(*(f"{sign}{field}" for field in (instant, key) if field))
    after = decode_cursor(query.cursor, with_instant=instant is not None)
    if after is not None:
        beyond = "lt" if descending else "gt"
        if instant is None:
            ordered = ordered.filter(**{f"{key}__{beyond}": after.key})
        else:
            ordered = ordered.filter(
                Q(**{f"{instant}__{beyond}": after.at}) | Q(**{instant: after.at, f"{key}__{beyond}": after.key})
            )
    rows = list(ordered[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, key), at=getattr(last, instant) if instant else None)
    return {"items": [render(row) for row in rows], "next_cursor": next_cursor}


@dataclass(frozen=True)
class Cursor:
    key: int
    at: datetime | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_cursor(value: int, *, at: datetime | None = None) -> str:
    fields: dict[str, int] = {"k": value}
    if at is not None:
        fields["t"] = (at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, with_instant: bool = False) -> Cursor | None:
    """The position a cursor this API issued stands for; anything else is a 422 naming the cursor."""
    if cursor in (None, ""):
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, micros = fields["k"], fields["t"] if with_instant else 0
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        key = micros = None
    if not (_whole(key) and 1 <= key <= MAX_ID and _whole(micros) and 0 <= micros <= _LATEST_MICROS):
        raise validation_problem([{"loc": ["query", "cursor"], "msg": "not a cursor this API issued"}])
    return Cursor(key, _EPOCH + timedelta(microseconds=micros) if with_instant else None)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def query_day(raw: str, *, name: str) -> date:
    """A local date given in the query as YYYY-MM-DD, within the dates the API serves; else 422 naming it."""
    try:
        day = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None or not EARLIEST_DAY <= day <= LATEST_DAY:
        raise validation_problem([{"loc": ["query", name], "msg": f"must be a date, {DAY_FORMAT}"}])
    return day


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
