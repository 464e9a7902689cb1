"""`record_events`: the one way rows enter the event log, in the caller's transaction (the outbox).

Callers describe each change as a `NewEvent` (apps/events/payloads.py builds them from the domain's rows); the
command being applied, if any, is taken from `applying_command`, so no service has to pass it down. Readers
waiting on the feed are told after commit, and webhook dispatch is asked for (apps/webhooks/kick.py); a rolled-back
change takes its events with it and tells no one.
"""

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from apps.commands.notify import announce_events
from apps.common.one_statement import insert_rows
from apps.common.tasks import on_commit
from apps.events.models import Event
from apps.webhooks.kick import kick_dispatch


@dataclass(frozen=True)
class NewEvent:
    type: str
    occurred_at: datetime
    data: dict
    ticket_id: int | None = None
    technician_id: int | None = None
    actor_id: int | None = None


@dataclass(frozen=True)
class CommandInFlight:
    id: uuid.UUID
    actor_id: int | None


_applying: ContextVar[CommandInFlight | None] = ContextVar("ticketflow_applying_command", default=None)


@contextmanager
def applying_command(command_id: uuid.UUID, *, actor_id: int | None) -> Iterator[None]:
    """Events recorded inside the block carry `command_id` (the command whose application made them)."""
    token = _applying.set(CommandInFlight(command_id, actor_id))
    try:
        yield
    finally:
        _applying.reset(token)


def command_in_flight() -> CommandInFlight | None:
    return _applying.get()


def record_events(events: Iterable[NewEvent]) -> list[Event]:
    """Append the events in one INSERT, positions in the order given. Returns the saved rows."""
    rows = event_rows(events)
    if rows:
        insert_rows(rows)  # `bulk_create`, its SQL composed once per shape
        events_inserted()
    return rows


def event_rows(events: Iterable[NewEvent]) -> list[Event]:
    """The rows `record_events` inserts, unsaved, for a writer that inserts them in a statement of its own
    (apps/common/one_statement.py); it calls `events_inserted` once they are in."""
    command = command_in_flight()
    return [
        Event(
            type=event.type,
            occurred_at=event.occurred_at,
            data=event.data,
            ticket_id=event.ticket_id,
            technician_id=event.technician_id,
            actor_id=event.actor_id,
            command_id=command.id if command else None,
        )
        for event in events
    ]


def record_event(event: NewEvent) -> Event:
    return record_events([event])[0]


def events_inserted() -> None:
    """After any insert of event rows: readers and webhook dispatch are told once the transaction commits. One
    callback per transaction, however many events it records (waiters re-read on any message, a dispatch
    reads every webhook's backlog). A callback registered in a savepoint that rolls back is dropped with it, so a
    later event registers anew."""
    pending = transaction.get_connection().run_on_commit
    if not any(callback is events_committed for _, callback, _ in pending):
        on_commit(events_committed)


def events_committed() -> None:
    """Tell the feed's waiting readers, and ask for the webhook deliveries of what just committed."""
    announce_events()
    kick_dispatch()
