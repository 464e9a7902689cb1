"""Applying commands: one lane at a time, oldest first, one transaction per command.

A lane is serialised by a PostgreSQL advisory lock held for the transaction that applies one command, so workers
may race for a lane without reordering it. A redelivered queue message finds nothing pending and does nothing.
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from pydantic import ValidationError

from apps.commands.inbox import oldest_two_pending
from apps.commands.models import Command, CommandStatus
from apps.commands.notify import announce_finished
from apps.commands.registry import REGISTRY
from apps.common.db import prepared_cursor, refusal_for
from apps.common.errors import DomainError, ErrorCode
from apps.common.metrics import record_command_finished
from apps.common.one_statement import Update, save_in_one_statement
from apps.common.redis_batch import sent_together
from apps.common.request_id import request_id_bound
from apps.events.models import EventType
from apps.events.payloads import command_finished
from apps.events.recording import applying_command, record_event
from apps.ticket.models import REFUSED_BY_GUARD
from apps.ticket.outcome import TicketOutcome
from apps.ticket.representations import ticket_data, work_session_data
from apps.ticket.services_work_session import settle_due_auto_resumes

logger = logging.getLogger("ticketflow.commands")

OUTCOME_FIELDS = ["status", "result", "error_code", "error_message", "effective_at", "finished_at", "ticket_id"]


def drain_lane(lane: str) -> int:
    """Apply every pending command of `lane` in order. Returns how many were applied.

    Stops as soon as the last applied command was the last one pending: a command committed after that has found
    the lane's queued flag cleared (apps.commands.dispatch) and queued a message of its own.
    """
    applied, more = 0, True
    while more:
        command, more = _apply_oldest(lane, now=None)
        applied += command is not None
    return applied


def apply_next(lane: str, *, now: datetime | None = None) -> Command | None:
    """Apply the oldest pending command of `lane` in one durable transaction; None when the lane is empty.

    `now` stands in for PostgreSQL's clock as the moment of processing (tests); it never moves the command's
    effective instant, which comes from the command itself.
    """
    return _apply_oldest(lane, now=now)[0]


def _apply_oldest(lane: str, *, now: datetime | None) -> tuple[Command | None, bool]:
    """Apply the oldest pending command of `lane`; also tell whether another one is pending behind it.

    Everything the command needs is read after the lane lock, in one statement (apps/commands/inbox.py).
    """
    # The commit's announcements and the outcome's metrics leave for Redis together, in one round trip.
    with sent_together():
        with transaction.atomic(durable=True):
            lock_lane(lane)
            oldest_two = oldest_two_pending(lane)
            if not oldest_two:
                return None, False
            command = oldest_two[0]
            now = command.db_now if now is None else now
            command.effective_at = max(filter(None, (command.occurred_at, command.latest_recorded)))
            command.attempts += 1
            with applying_command(command.id, actor_id=command.actor_id), request_id_bound(command.request_id):
                _apply(command, now=now)
                if command.status == CommandStatus.REJECTED:
                    record_event(command_finished(command, EventType.COMMAND_REJECTED, at=command.effective_at))
            save_in_one_statement(Update(command, [*OUTCOME_FIELDS, "attempts"]))  # `save`, its SQL composed once
            transaction.on_commit(lambda: announce_finished(command.id))
        _log_outcome(command, now)
    return command, len(oldest_two) > 1


def lock_lane(lane: str) -> None:
    with prepared_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [lane])


def _apply(command: Command, *, now: datetime) -> None:
    """Judge the command as of its `effective_at`; `now` (processing time) only stamps `finished_at`."""
    at = command.effective_at
    command_type = REGISTRY.get(command.type)
    try:
        if command_type is None:
            raise DomainError(ErrorCode.VALIDATION_ERROR, f"unknown command type {command.type}")
        payload = command_type.schema.model_validate(command.payload)
        if command_type.public and not command.actor.has_role(*command_type.roles):
            raise DomainError(ErrorCode.FORBIDDEN, f"the actor's roles may not {command.type}")
        if command_type.settles_session and _resume_due(command, at):  # in a savepoint of its own: kept even if
            settle_due_auto_resumes(ticket_id=payload.ticket_id, at=at)  # the command is then refused
        # No savepoint here: every handler calls one service that is atomic itself (a savepoint when nested), so
        # a refusal rolls back the service's writes and leaves this transaction able to store the outcome.
        outcome = command_type.handler(payload, command.actor, at)
    except DomainError as error:
        _finish(command, CommandStatus.REJECTED, now, error_code=error.code, message=error.message)
    except ValidationError as error:
        _finish(command, CommandStatus.REJECTED, now, error_code=ErrorCode.VALIDATION_ERROR, message=str(error))
    except IntegrityError as error:
        # A guard the service did not translate: still a refusal, never a retry.
        refusal = refusal_for(error, REFUSED_BY_GUARD) or DomainError(ErrorCode.VALIDATION_ERROR, "refused")
        _finish(
            command,
            CommandStatus.REJECTED,
            now,
            error_code=refusal.code,
            message=f"refused by the database: {refusal.message}",
        )
    else:
        _finish(command, CommandStatus.SUCCEEDED, now, result=result_data(outcome, now=at))
        if outcome is not None and command.ticket_id is None:
            command.ticket_id = outcome.ticket.pk


def _resume_due(command: Command, at: datetime) -> bool:
    """The ticket's paused session is due to resume by `at` (read with the command; its lane lock keeps it so)."""
    return command.due_resume_at is not None and command.due_resume_at <= at


def result_data(outcome: TicketOutcome | None, *, now: datetime) -> dict | None:
    if outcome is None:
        return None
    session = outcome.work_session
    return {
        "ticket": ticket_data(outcome.ticket),
        "work_session": work_session_data(session, now=now) if session is not None else None,
    }


def _finish(command: Command, status: str, now: datetime, *, result=None, error_code="", message="") -> None:
    command.status = status
    command.result = result
    command.error_code = str(error_code)
    command.error_message = message
    command.finished_at = now


def mark_failed(command_id, *, reason: str) -> None:
    """Infrastructure kept failing for this command: record it as `failed` (final) so its lane moves on."""
    with transaction.atomic():
        updated = (
            Command.objects.pending()
            .filter(id=command_id)
            .update(
                status=CommandStatus.FAILED, error_code="internal_error", error_message=reason[:2000], finished_at=Now()
            )
        )
        if updated:
            command = Command.objects.get(id=command_id)
            at = command.effective_at or command.finished_at  # it may have failed before it was ever judged
            with applying_command(command.id, actor_id=command.actor_id):
                record_event(command_finished(command, EventType.COMMAND_FAILED, at=at))
    if updated:
        announce_finished(command_id)
        record_command_finished(command.type, CommandStatus.FAILED, 0.0)
        with request_id_bound(command.request_id):
            logger.error("command failed", extra={"command_id": str(command_id), "reason": reason[:500]})


def _log_outcome(command: Command, now: datetime) -> None:
    latency = max(0.0, (now - command.submitted_at).total_seconds())  # a `now` given by a test may precede it
    record_command_finished(command.type, command.status, latency)
    with request_id_bound(command.request_id):
        logger.info(
            "command %s",
            command.status,
            extra={
                "command_id": str(command.id),
                "command_type": command.type,
                "ticket_id": command.ticket_id,
                "status": command.status,
                "error_code": command.error_code or None,
                "latency_ms": round(latency * 1000, 1),
            },
        )
