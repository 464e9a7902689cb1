"""GET /api/v1/events: the change feed (admin and service users), long-polling with `Prefer: wait`."""

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from apps.accounts.models import Role
from apps.commands.notify import EVENTS_CHANNEL
from apps.commands.waiting import requested_wait, turn_to_wait, wait_for
from apps.common.api import MAX_ID
from apps.common.problems import Problem, validation_problem
from apps.events.feed import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    FeedFilter,
    JsonPage,
    UnknownEventType,
    matching_types,
    read_page_json,
)
from apps.events.models import EventType

router = Router(tags=["events"])


class EventOut(Schema):
    model_config = ConfigDict(title="Event")
    position: int
    id: uuid.UUID
    type: str = Field(..., description=f"one of: {', '.join(EventType.values)}")
    occurred_at: datetime
    recorded_at: datetime
    ticket_id: int | None
    technician_id: int | None
    actor_id: int | None
    command_id: uuid.UUID | None
    data: dict[str, Any]


class EventPage(Schema):
    model_config = ConfigDict(title="EventPage")
    items: list[EventOut]
    next_after: int


class EventQuery(Schema):
    after: int = Field(0, ge=0, le=MAX_ID, description="a position: the page starts after it (0: the oldest kept)")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    type: str | None = Field(
        None, max_length=100, description="an event type, or a prefix ending in `*` (`ticket.*`; `*`: all)"
    )
    ticket_id: int | None = Field(None, ge=1, le=MAX_ID)
    technician_id: int | None = Field(None, ge=1, le=MAX_ID)


@router.get(
    "",
    response=EventPage,
    operation_id="listEvents",
    summary="Everything that happened, in order (admin and service users)",
    description=(
        "Events after the position `after`, oldest first; page on with `next_after` (the last item's position, or "
        "`after` when the page is empty). Every event is served once, positions strictly increasing, even when "
        "transactions commit out of the order of the positions they drew. With `Prefer: wait=N` (0..30) an empty "
        "page waits up to N seconds for the next matching event (`Preference-Applied: wait=N`); a token may hold "
        "COMMAND_MAX_WAITS_PER_TOKEN waiting requests (commands and events) at once, `429` beyond."
    ),
    openapi_extra={"parameters": [{"in": "header", "name": "Prefer", "required": False, "schema": {"type": "string"}}]},
)
def list_events(request, query: Query[EventQuery]):
    user = request.user
    if not (user.is_service or user.has_role(Role.ADMIN)):
        raise Problem(403, "forbidden", "the event feed is for admins and service users")
    where = FeedFilter(types=_types(query.type), ticket_id=query.ticket_id, technician_id=query.technician_id)
    wait = requested_wait(request.headers.get("Prefer"))
    page = read_page_json(after=query.after, limit=query.limit, where=where)
    waited = False
    if not page.count and wait:
        with turn_to_wait(getattr(request, "token_key", ""), seconds=wait) as may_wait:
            if may_wait:
                waited = True

                def arrived() -> bool:
                    nonlocal page
                    page = read_page_json(after=query.after, limit=query.limit, where=where)
                    return bool(page.count)

                wait_for(EVENTS_CHANNEL, ready=arrived, seconds=wait)
    response = HttpResponse(page_body(page, after=query.after), content_type="application/json")
    if waited or wait == 0:
        response["Preference-Applied"] = f"wait={wait}"
    return response


def page_body(page: JsonPage, *, after: int) -> str:
    """EventPage's JSON, around the items PostgreSQL wrote (`read_page_json`): no validation or encoding of each
    row in Python, the bulk of a page's cost when it was done here. EventOut and EventPage above still describe it
    (the schema); tests/integration/test_events_feed_body.py checks the items against `event_data`."""
    next_after = page.last_position if page.count else after
    return f'{{"items": [{page.items}], "next_after": {next_after}}}'


def _types(pattern: str | None) -> tuple[str, ...] | None:
    if pattern is None:
        return None
    try:
        return matching_types(pattern)
    except UnknownEventType as error:
        raise validation_problem([{"loc": ["query", "type"], "msg": str(error)}]) from None
