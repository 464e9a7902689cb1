"""Accepting a command: authorise, validate, store it once (idempotency), queue it after commit."""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from apps.accounts.models import User
from apps.commands.dispatch import enqueue_lane
from apps.commands.models import OCCURRED_AT_MAX_AHEAD_SECONDS, Command
from apps.commands.registry import REGISTRY, CommandType
from apps.commands.schemas import Payload
from apps.common.db import constraint_name
from apps.common.one_statement import Insert, save_in_one_statement
from apps.common.problems import Problem, validation_problem
from apps.common.request_id import current_request_id
from apps.rules.config import validation_errors

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Keys only a service user may send (API.md): anyone else sending the key at all, even as null, gets 403.
SERVICE_ONLY_KEYS = ("actor_id", "occurred_at")
_INSTANT = TypeAdapter(AwareDatetime)
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass(frozen=True)
class Accepted:
    command: Command
    replayed: bool


def fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit_command(*, submitter: User, body: Any, idempotency_key: str | None) -> Accepted:
    """Accept a command sent over HTTP; it keeps the request's id (X-Request-ID) for the worker's log lines."""
    if not isinstance(body, dict):
        raise validation_problem([{"loc": ["body"], "msg": "must be a JSON object"}])
    _only_services_may_send(submitter, body)
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise validation_problem(
            [{"loc": ["header", "Idempotency-Key"], "msg": "must be 1 to 255 visible ASCII characters"}]
        )
    command_type = _command_type(body.get("type"))
    actor = _actor(submitter, body)
    occurred_at = _occurred_at(body)
    if not actor.has_role(*command_type.roles):
        raise Problem(403, "forbidden", f"the roles of user {actor.pk} may not submit {command_type.name}")
    fields = {key: value for key, value in body.items() if key not in ("type", *SERVICE_ONLY_KEYS)}
    try:
        payload = command_type.schema.model_validate(fields)
    except ValidationError as exc:
        raise validation_problem(validation_errors(exc, prefix=("body",))) from None

    body_fingerprint = fingerprint(body)
    if idempotency_key is not None:
        existing = _replay(submitter, idempotency_key, body_fingerprint)
        if existing is not None:
            return existing
    try:
        command = store_command(
            command_type,
            payload,
            submitter=submitter,
            actor=actor,
            idempotency_key=idempotency_key,
            fingerprint=body_fingerprint,
            occurred_at=occurred_at,
            request_id=current_request_id(),
        )
    except IntegrityError as exc:
        if constraint_name(exc) == "command_occurred_not_ahead":
            raise _occurred_at_out_of_bounds() from None
        # Two identical requests raced; the other one stored the command first.
        replayed = _replay(submitter, idempotency_key, body_fingerprint) if idempotency_key else None
        if replayed is None:
            raise
        return replayed
    return Accepted(command, replayed=False)


def store_command(
    command_type: CommandType,
    payload: Payload,
    *,
    submitter: User,
    actor: User | None,
    idempotency_key: str | None,
    fingerprint: str,
    occurred_at: datetime | None = None,
    stored_at: datetime | None = None,
    queue: str | None = None,
    request_id: str | None = None,
) -> Command:
    """Insert the Command (pending) and queue its lane after commit.

    `submitted_at` is PostgreSQL's clock: read by the INSERT itself, or `stored_at`, a reading the caller just took
    (the sweep). `occurred_at` is `submitted_at` unless given. `request_id` names the HTTP request that stored it.
    IntegrityError: the idempotency key is taken, or `occurred_at` is too far ahead (command_occurred_not_ahead).
    """
    pressed = {} if stored_at is None else {"submitted_at": stored_at, "occurred_at": stored_at}
    if occurred_at is not None:
        pressed["occurred_at"] = occurred_at
    with transaction.atomic():
        command = Command(
            type=command_type.name,
            payload=payload.model_dump(mode="json"),
            lane=command_type.lane(payload),
            ticket_id=getattr(payload, "ticket_id", None),
            inventory_item_id=getattr(payload, "inventory_item_id", None),
            submitter=submitter,
            actor=actor,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            request_id=request_id,
            **pressed,
        )
        save_in_one_statement(Insert(command))  # `save`, its SQL composed once per process
        if command.submitted_at - command.occurred_at > timedelta(seconds=settings.COMMAND_MAX_BACKDATE_SECONDS):
            raise _occurred_at_out_of_bounds()  # rolls the insert back
        enqueue_lane(command.lane, queue=queue)
    return command


def _only_services_may_send(submitter: User, body: dict) -> None:
    """Acting for someone else, or saying when an act happened, is for upstream systems: the key itself is refused."""
    sent = [key for key in SERVICE_ONLY_KEYS if key in body]
    if sent and not submitter.is_service:
        raise Problem(403, "forbidden", f"only service users may send {' or '.join(sent)}")


def _occurred_at(body: dict) -> datetime | None:
    if "occurred_at" not in body:
        return None
    try:
        instant = _INSTANT.validate_python(body["occurred_at"])
    except ValidationError:
        raise validation_problem(
            [{"loc": ["body", "occurred_at"], "msg": "must be an RFC 3339 instant with its offset"}]
        ) from None
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        raise _occurred_at_out_of_bounds()
    return instant


def _occurred_at_out_of_bounds() -> Problem:
    return validation_problem(
        [
            {
                "loc": ["body", "occurred_at"],
                "msg": f"must be at most {OCCURRED_AT_MAX_AHEAD_SECONDS} s ahead of and at most "
                f"{settings.COMMAND_MAX_BACKDATE_SECONDS} s behind the moment the command is stored",
            }
        ]
    )


def _command_type(name: Any) -> CommandType:
    command_type = REGISTRY.get(name) if isinstance(name, str) else None
    if command_type is None or not command_type.public:
        raise validation_problem([{"loc": ["body", "type"], "msg": "unknown command type"}])
    return command_type


def _actor(submitter: User, body: dict) -> User:
    actor_id = body.get("actor_id")
    if actor_id is None:  # a service acting as itself
        return submitter
    if not isinstance(actor_id, int) or isinstance(actor_id, bool) or not 1 <= actor_id < 2**63:
        raise validation_problem([{"loc": ["body", "actor_id"], "msg": "must be a user id"}])
    actor = User.objects.filter(pk=actor_id, is_active=True).first()
    if actor is None:
        raise validation_problem([{"loc": ["body", "actor_id"], "msg": "no such active user"}])
    return actor


def _replay(submitter: User, key: str, body_fingerprint: str) -> Accepted | None:
    existing = Command.objects.filter(submitter=submitter, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.fingerprint != body_fingerprint:
        raise Problem(
            422, "idempotency_key_reused", "this Idempotency-Key was already used with a different request body"
        )
    return Accepted(existing, replayed=True)
