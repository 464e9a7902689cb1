"""Delivering: which deliveries may go now, and one attempt at one of them.

Order (API.md): to one webhook, the deliveries that share an ordering key (apps/webhooks/dispatch.py) go out one at
a time, in position order. Two things enforce it:
- only the *head* of a key is ever picked: a pending delivery with no earlier pending one of its key (a delivery
  waiting for its retry is pending, so the later ones wait behind it until it is delivered or failed);
- an attempt runs inside a transaction that holds the delivery's row lock and a transaction-level advisory lock on
  its key, so two workers can never send the same key at once, and a worker killed mid-attempt releases both by
  rolling back (the delivery stays pending and due: it is simply tried again). The price: an attempt holds a
  database connection for up to the 10 s an answer may take (the worker's concurrency bounds how many).

Retries are data: a failed attempt sets `next_attempt_at`; beat's sweep sends a task for every due head. A task
message is only a hint: lost, duplicated or early, the row decides.

Cost: a delivery's task goes on with the next heads of its key itself (`deliver_in_order`), so a ticket's run of
events costs one task; the heads claimed together go out as one task per webhook (`task_shares`), the first of them
tried by the dispatch that claimed them; and each attempt is two statements in one transaction: the locked read
(head check, key lock, event and clock folded in) and the write (attempt row and delivery state in one statement).
"""

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Model

from apps.common import time as clock
from apps.common.db import model_from_row
from apps.common.metrics import record_webhook_attempt, recorded_together
from apps.common.tasks import TaskName, on_commit, send_task_rollback_unsafe
from apps.events.models import Event
from apps.events.representations import event_data
from apps.webhooks import outbound
from apps.webhooks.models import RESPONSE_EXCERPT_BYTES, DeliveryStatus, Webhook
from apps.webhooks.signing import signature_header, signing_secrets
from apps.webhooks.targets import RefusedTarget, resolve

logger = logging.getLogger("ticketflow.webhooks")

SEND_BATCH = 500
# A task's share of claimed heads: 20 heads answered at once take a task some 50 ms, and a claim of SEND_BATCH heads
# still makes 25 tasks, enough to spread a backlog over the worker pool.
HEADS_PER_TASK = 20
# How long one task goes on sending its deliveries (and their keys' next ones) before it hands the rest to tasks
# of their own.
KEY_BUDGET_SECONDS = 2.0
# The outcome an attempt is counted under in /metrics: the delivery's status after it.
_METRIC_OUTCOMES = {"delivered": "delivered", "failed": "failed", "pending": "retrying"}
USER_AGENT = "ticketflow-webhooks/1"

_NO_EARLIER_PENDING = """
    (d.order_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM webhook_delivery e
        WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key AND e.status = 'pending'
          AND (e.event_position, e.id) < (d.event_position, d.id)))
"""

# Claims the due heads whose task was not sent lately: marks them sent now and returns them, in one statement.
_CLAIM_DUE_HEADS = f"""
WITH due AS (
    SELECT d.id FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
    WHERE w.active AND d.status = 'pending' AND d.next_attempt_at <= statement_timestamp()
      AND (d.enqueued_at IS NULL OR d.enqueued_at < statement_timestamp() - make_interval(secs => %(resend_after)s))
      AND (%(webhook_id)s::bigint IS NULL OR d.webhook_id = %(webhook_id)s)
      AND (%(order_key)s::text IS NULL OR d.order_key = %(order_key)s)
      AND {_NO_EARLIER_PENDING}
    ORDER BY d.next_attempt_at, d.id
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_delivery SET enqueued_at = statement_timestamp() FROM due WHERE webhook_delivery.id = due.id
RETURNING webhook_delivery.id, webhook_delivery.webhook_id, webhook_delivery.next_attempt_at, webhook_delivery.attempts
"""


class Head(NamedTuple):
    """A due head, claimed: its task is about to be sent (or it is about to be tried where it was claimed)."""

    delivery_id: int
    webhook_id: int
    attempts: int  # made before; 0: a first try

    @property
    def first_try(self) -> bool:
        return self.attempts == 0


def send_due(*, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH) -> int:
    """Send delivery tasks for the due heads (of one webhook, or one key, when given) not sent lately."""
    with transaction.atomic():
        shares = task_shares(claim_due_heads(webhook_id=webhook_id, order_key=order_key, limit=limit))
        if shares:
            on_commit(lambda: send_shares(shares))
    return sum(map(len, shares))


def claim_due_heads(*, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH):
    """The due heads whose task was not sent lately, oldest due first, marked as sent now (in the caller's
    transaction)."""
    params = {
        "resend_after": settings.WEBHOOK_RESEND_AFTER_SECONDS,
        "webhook_id": webhook_id,
        "order_key": order_key,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_DUE_HEADS, params)
        rows = sorted(cursor.fetchall(), key=lambda row: (row[2], row[0]))  # RETURNING keeps no order
    return [Head(delivery_id, webhook_id, attempts) for delivery_id, webhook_id, _, attempts in rows]


def task_shares(heads: list[Head]) -> list[list[int]]:
    """The claimed heads as the tasks that will try them: one webhook's heads together, in claim order, at most
    HEADS_PER_TASK to a task (a backlog still spreads over the worker pool). Each task message costs a worker
    about as much as an attempt, so one per head would double a delivery's cost; and one webhook to a task keeps
    a slow receiver from holding up another's deliveries."""
    by_webhook: dict[int, list[int]] = {}
    for head in heads:
        by_webhook.setdefault(head.webhook_id, []).append(head.delivery_id)
    return [ids[i : i + HEADS_PER_TASK] for ids in by_webhook.values() for i in range(0, len(ids), HEADS_PER_TASK)]


def send_shares(shares: list[list[int]]) -> None:
    for delivery_ids in shares:
        send_task_rollback_unsafe(TaskName.DELIVER_WEBHOOK, args=delivery_ids, queue=settings.CELERY_QUEUE_WEBHOOKS)


def send_each(delivery_ids: list[int]) -> None:
    """Claimed deliveries a task will not try after all: a task each, so they go on in parallel."""
    send_shares([[delivery_id] for delivery_id in delivery_ids])


@dataclass(frozen=True)
class Outcome:
    status: str  # the delivery's status after the attempt
    duration_ms: int
    webhook_id: int
    order_key: str | None

    @property
    def key_moves_on(self) -> bool:
        """Delivered or failed for good: the next delivery of its key is the head now."""
        return self.status != DeliveryStatus.PENDING and self.order_key is not None


# One statement reads all an attempt needs, and only if the attempt may go: the delivery (locked; SKIP LOCKED, so a
# delivery another worker has is not waited for), pending and due, the head of its key, its webhook active, its
# event (NULLs once retention pruned it), whether this transaction got its key's advisory lock, and PostgreSQL's
# clock as the attempt starts. `which` picks one delivery by id or the head of one key.
# The lock function runs for each row that passes the WHERE, which can include a row then skipped as locked: every
# such row belongs to the same key (or is the one delivery), so at worst the lock is held to this transaction's end,
# which comes at once when the row returned is not ours to send.
_DELIVERY_COLUMNS = ("id", "order_key", "attempts", "give_up_at")
# What an attempt reads of its webhook and of its event (the rest of either, deferred, is never needed).
_WEBHOOK_FIELDS = ("id", "url", "secret", "previous_secret", "secret_rotated_at")
_EVENT_FIELDS = (
    "position", "id", "type", "occurred_at", "recorded_at", "ticket_id", "technician_id", "actor_id", "command_id",
    "data",
)  # fmt: skip
_BY_ID = "d.id = %(id)s"
_HEAD_OF_KEY = "d.webhook_id = %(webhook_id)s AND d.order_key = %(order_key)s"


@cache
def _locked_attempt(which: str) -> str:
    columns = (
        [f"d.{column}" for column in _DELIVERY_COLUMNS]
        + [f"w.{field.column}" for field in _fields(Webhook, _WEBHOOK_FIELDS)]
        + [f"e.{field.column}" for field in _fields(Event, _EVENT_FIELDS)]
    )
    return f"""
SELECT {", ".join(columns)},
       pg_try_advisory_xact_lock(
           hashtextextended('webhook:' || d.webhook_id || ':' || coalesce(d.order_key, 'd' || d.id), 0)),
       clock_timestamp()
FROM webhook_delivery d
JOIN webhook w ON w.id = d.webhook_id
LEFT JOIN event e ON e.position = d.event_position
WHERE {which} AND d.status = 'pending' AND d.next_attempt_at <= statement_timestamp() AND w.active
  AND {_NO_EARLIER_PENDING}
ORDER BY d.event_position, d.id
LIMIT 1
FOR UPDATE OF d SKIP LOCKED
"""


@cache
def _fields(model: type[Model], names: tuple[str, ...]) -> tuple[Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


# The attempt's row (append-only) and the delivery's new state, in one statement.
_RECORD_ATTEMPT = """
WITH attempt AS (
    INSERT INTO webhook_delivery_attempt
        (delivery_id, number, started_at, duration_ms, response_status, error, response_excerpt)
    VALUES (%(id)s, %(number)s, %(started_at)s, %(duration_ms)s, %(response_status)s, %(error)s, %(excerpt)s)
)
UPDATE webhook_delivery
SET attempts = %(number)s, enqueued_at = NULL, status = %(status)s, next_attempt_at = %(next_attempt_at)s,
    finished_at = %(finished_at)s
WHERE id = %(id)s
"""


@dataclass(frozen=True)
class _Locked:
    """A delivery this transaction may attempt, as _LOCKED_ATTEMPT read it."""

    delivery_id: int
    attempts: int
    give_up_at: datetime
    order_key: str | None
    webhook: Webhook
    event: Event | None
    started_at: datetime


def attempt(delivery_id: int) -> Outcome | None:
    """Try the delivery once, if it is pending, due, the head of its key, its webhook active and no other worker
    has it or its key. Returns None when it was not tried."""
    return _attempt(_BY_ID, {"id": delivery_id})


def attempt_head(webhook_id: int, order_key: str) -> Outcome | None:
    """Try the head of one key once, if it is due and no other worker has the key. None when nothing was tried."""
    return _attempt(_HEAD_OF_KEY, {"webhook_id": webhook_id, "order_key": order_key})


def deliver_claimed(delivery_ids: list[int], *, budget_seconds: float = KEY_BUDGET_SECONDS) -> list[Outcome]:
    """Try claimed deliveries in turn, each with the run of its key behind it (deliver_in_order), for up to
    `budget_seconds` in all; the ones not reached by then get a task each. The outcomes of the attempts made."""
    deadline = time.monotonic() + budget_seconds
    outcomes: list[Outcome] = []
    with recorded_together():
        for n, delivery_id in enumerate(delivery_ids):
            if time.monotonic() >= deadline:
                send_each(delivery_ids[n:])  # a slow receiver (or a long run): the rest in parallel
                break
            try:
                outcomes += deliver_in_order(delivery_id, budget_seconds=deadline - time.monotonic())
            except Exception:
                # The others must not wait for the sweep's resend window because this one broke (it waits there,
                # claimed): they go on in tasks of their own, and the error is the task's.
                send_each(delivery_ids[n + 1 :])
                raise
    return outcomes


def deliver_in_order(delivery_id: int, *, budget_seconds: float = KEY_BUDGET_SECONDS) -> list[Outcome]:
    """Try the delivery, then, while each attempt settles its delivery (delivered or failed), the next head of its
    key, for up to `budget_seconds`: one task sends a key's run of due deliveries, in order, without a task and a
    claim per delivery. A key still due when the budget is spent gets a task of its own (its next head, claimed as
    the sweep claims), so one busy ticket never holds a worker for long. The outcomes of the attempts made."""
    deadline = time.monotonic() + budget_seconds
    outcome = attempt(delivery_id)
    outcomes = [] if outcome is None else [outcome]
    while outcome is not None and outcome.key_moves_on:
        if time.monotonic() >= deadline:
            send_due(webhook_id=outcome.webhook_id, order_key=outcome.order_key)
            break
        outcome = attempt_head(outcome.webhook_id, outcome.order_key)
        if outcome is not None:
            outcomes.append(outcome)
    # No next head due, or another worker has it (it goes on from there), or it waits for a retry (beat's sweep).
    return outcomes


def _attempt(which: str, params: dict) -> Outcome | None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_locked_attempt(which), params)
            row = cursor.fetchone()
        if row is None:  # not due, not the head, or another worker has it
            return None
        *columns, key_locked, started_at = row
        if not key_locked:  # another worker has its key
            return None
        outcome = _try_once(_locked(columns, started_at))
    record_webhook_attempt(_METRIC_OUTCOMES[outcome.status], outcome.duration_ms / 1000)
    return outcome


def _locked(columns: list, started_at: datetime) -> _Locked:
    """The delivery, its webhook and its event (None once retention pruned it) from _locked_attempt's columns."""
    webhook_fields, event_fields = _fields(Webhook, _WEBHOOK_FIELDS), _fields(Event, _EVENT_FIELDS)
    delivery_end = len(_DELIVERY_COLUMNS)
    webhook_end = delivery_end + len(webhook_fields)
    delivery_id, order_key, attempts, give_up_at = columns[:delivery_end]
    webhook = model_from_row(Webhook, webhook_fields, columns[delivery_end:webhook_end])
    event_values = columns[webhook_end:]
    event_pruned = event_values[0] is None  # its position (the key the join is on): no event joined
    event = None if event_pruned else model_from_row(Event, event_fields, event_values)
    return _Locked(delivery_id, attempts, give_up_at, order_key, webhook, event, started_at)


def _try_once(locked: _Locked) -> Outcome:
    webhook, event = locked.webhook, locked.event
    if event is None:
        answer = outbound.Answer(None, b"", "the event is no longer kept (EVENT_RETENTION_DAYS)", 0)
    else:
        body = json.dumps(event_data(event), separators=(",", ":"))
        try:
            target = resolve(webhook.url)
        except RefusedTarget as refused:
            answer = outbound.Answer(None, b"", f"target refused: {refused}", 0)
        else:
            answer = outbound.post(target, body=body.encode(), headers=_headers(webhook, event, body))
    number = locked.attempts + 1
    changes = _next_state(locked, answer, event_kept=event is not None)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_ATTEMPT,
            {
                "id": locked.delivery_id,
                "number": number,
                "started_at": locked.started_at,
                "duration_ms": answer.duration_ms,
                "response_status": answer.status,
                "error": answer.error,
                "excerpt": answer.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace"),
                **changes,
            },
        )
    if answer.status == 410:
        Webhook.objects.filter(pk=webhook.pk).update(active=False)
        logger.warning("webhook deactivated: its receiver answered 410", extra={"webhook_id": webhook.pk})
    logger.info(
        "webhook attempt",
        extra={
            "webhook_id": webhook.pk,
            "delivery_id": locked.delivery_id,
            "event_id": None if event is None else str(event.id),
            "attempt": number,
            "response_status": answer.status,
            "error": answer.error,
            "duration_ms": answer.duration_ms,
            "outcome": changes["status"],
        },
    )
    return Outcome(changes["status"], answer.duration_ms, webhook.pk, locked.order_key)


def _headers(webhook, event: Event, body: str) -> dict[str, str]:
    now = clock.utc_now()
    signature = signature_header(
        signing_secrets(webhook, at=now), message_id=str(event.id), timestamp=now.replace(microsecond=0), body=body
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": str(event.id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _next_state(locked: _Locked, answer: outbound.Answer, *, event_kept: bool) -> dict:
    """The delivery's state after an attempt: 2xx delivered; 410 failed (the caller deactivates the webhook);
    anything else retried per WEBHOOK_RETRY_SCHEDULE until give_up_at, then failed."""
    finished_at = locked.started_at
    final = {"next_attempt_at": None, "finished_at": finished_at}
    if answer.status is not None and 200 <= answer.status < 300:
        return {"status": DeliveryStatus.DELIVERED, **final}
    if answer.status == 410 or not event_kept:
        return {"status": DeliveryStatus.FAILED, **final}
    retry_at = finished_at + retry_delay(locked.attempts + 1)
    if retry_at > locked.give_up_at:
        return {"status": DeliveryStatus.FAILED, **final}
    return {"status": DeliveryStatus.PENDING, "next_attempt_at": retry_at, "finished_at": None}


def retry_delay(failed_attempts: int) -> timedelta:
    """After the n-th failed attempt: the n-th delay of the schedule (its last one repeating), plus 0..20 %."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    seconds = schedule[min(failed_attempts, len(schedule)) - 1]
    return timedelta(seconds=seconds * (1 + random.uniform(0, 0.2)))
