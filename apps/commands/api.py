"""POST /api/v1/commands and the command reads. Thin: authenticate, validate, store, queue, answer."""

import logging
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import JsonResponse
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict, TypeAdapter

from apps.commands.intake import submit_command
from apps.commands.models import Command
from apps.commands.ratelimit import enforce_rate_limit
from apps.commands.registry import REGISTRY
from apps.commands.representations import command_data
from apps.commands.waiting import requested_wait, turn_to_wait, wait_until_final
from apps.common.api import ListQuery, json_body, paginate
from apps.common.problems import Problem
from apps.ticket.api import TicketOut, WorkSessionOut

router = Router(tags=["commands"])
logger = logging.getLogger("ticketflow.api")


class CommandError(Schema):
    code: str
    message: str


class CommandResult(Schema):
    ticket: TicketOut | None = None
    work_session: WorkSessionOut | None = None


class CommandOut(Schema):
    model_config = ConfigDict(title="Command")
    id: uuid.UUID
    type: str
    status: Literal["pending", "succeeded", "rejected", "failed"]
    ticket_id: int | None
    actor_id: int | None
    idempotency_key: str | None
    submitted_at: datetime
    occurred_at: datetime
    effective_at: datetime | None
    finished_at: datetime | None
    attempts: int
    result: CommandResult | None
    error: CommandError | None


class CommandPage(Schema):
    items: list[CommandOut]
    next_cursor: str | None


class CommandFilters(ListQuery):
    ticket_id: int | None = Field(None, ge=1, le=2**63 - 1)
    status: Literal["pending", "succeeded", "rejected", "failed"] | None = None


def command_schema_name(command_type: str) -> str:
    """The name a command type's body is published under: `ticket.create` → `TicketCreateCommand`."""
    return "".join(word.capitalize() for word in re.split(r"[._]", command_type)) + "Command"


def command_schemas() -> dict[str, dict[str, Any]]:
    """The OpenAPI components of the command body: one object per public command type, plus what they share."""
    components: dict[str, dict[str, Any]] = {}
    for name, command_type in REGISTRY.items():
        if not command_type.public:
            continue
        schema = TypeAdapter(command_type.schema).json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        schema["properties"] = {
            "type": {"type": "string", "enum": [name]},
            **schema.get("properties", {}),
            "actor_id": {"type": "integer", "minimum": 1, "description": "service users only"},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "service users only: when the act happened (RFC 3339 with offset), at most 2 s ahead "
                "of and COMMAND_MAX_BACKDATE_SECONDS behind the moment the command is stored",
            },
        }
        schema["required"] = ["type", *schema.get("required", [])]
        schema["title"] = command_schema_name(name)
        components[schema["title"]] = schema
    return components


def _request_body_schema() -> dict[str, Any]:
    """The OpenAPI description of the body: one of the command types' objects, told apart by `type`."""
    refs = {
        name: f"#/components/schemas/{command_schema_name(name)}"
        for name, command_type in REGISTRY.items()
        if command_type.public
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [{"$ref": ref} for ref in refs.values()],
                    "discriminator": {"propertyName": "type", "mapping": refs},
                }
            }
        },
    }


@router.post(
    "",
    response={200: CommandOut, 202: CommandOut},
    operation_id="submitCommand",
    summary="Submit a command",
    description=(
        "Stores the command and queues it; `202` while pending. With `Prefer: wait=N` (0..30) the answer waits "
        "up to N seconds for the outcome and is `200` once final (`Preference-Applied: wait=N`; a busy server may "
        "answer at once instead). A token may have COMMAND_MAX_WAITS_PER_TOKEN (default 8) requests waiting at "
        "once: `429` beyond, nothing stored. `Idempotency-Key` replays the first answer."
    ),
    openapi_extra={
        "requestBody": _request_body_schema(),
        "parameters": [
            {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"}},
            {"in": "header", "name": "Prefer", "required": False, "schema": {"type": "string"}},
        ],
    },
)
def submit(request):
    token_key = getattr(request, "token_key", "")
    enforce_rate_limit(token_key)
    body = json_body(request)
    wait = requested_wait(request.headers.get("Prefer"))
    with turn_to_wait(token_key, seconds=wait) as may_wait:
        accepted = submit_command(
            submitter=request.user,
            body=body,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        command = accepted.command
        logger.info(
            "command replayed" if accepted.replayed else "command accepted",
            extra={"command_id": str(command.id), "command_type": command.type, "ticket_id": command.ticket_id},
        )
        if may_wait:
            command = wait_until_final(command, seconds=wait)
    response = JsonResponse(command_data(command), status=200 if command.is_final else 202)
    response["Location"] = f"/api/v1/commands/{command.id}"
    if accepted.replayed:
        response["Idempotent-Replayed"] = "true"
    if may_wait or wait == 0:
        response["Preference-Applied"] = f"wait={wait}"
    return response


@router.get("", response=CommandPage, operation_id="listCommands", summary="Commands you submitted (admins: all)")
def list_commands(request, filters: Query[CommandFilters]):
    commands = Command.objects.visible_to(request.user)
    if filters.ticket_id is not None:
        commands = commands.filter(ticket_id=filters.ticket_id)
    if filters.status is not None:
        commands = commands.filter(status=filters.status)
    return paginate(commands, query=filters, key="seq", descending=True, render=command_data)


@router.get("/{command_id}", response=CommandOut, operation_id="getCommand", summary="One command")
def get_command(request, command_id: str):
    try:
        parsed = uuid.UUID(command_id)
    except ValueError:
        parsed = None
    command = Command.objects.visible_to(request.user).filter(id=parsed).first() if parsed else None
    if command is None:
        raise Problem(404, "not_found", "no such command")
    return command_data(command)
