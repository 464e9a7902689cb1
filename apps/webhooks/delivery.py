"""Delivering: which deliveries may go now, and rounds of attempts at them.

Order (API.md): to one webhook, the deliveries that share an ordering key (apps/webhooks/dispatch.py) go out one at
a time, in position order. Two things enforce it:
- only the *head* of a key is ever picked: a pending delivery with no earlier pending one of its key (a delivery
  waiting for its retry is pending, so the later ones wait behind it until it is delivered or failed);
- attempts run inside a transaction that holds each delivery's row lock and a transaction-level advisory lock on
  its key, so two workers can never send the same key at once, and a worker killed mid-round releases them all by
  rolling back (the deliveries stay pending and due: they are simply sent again, and receivers deduplicate on
  `webhook-id`). The price: a round holds a database connection for as long as its POSTs take (the task's budget,
  plus at most the 10 s one answer may take).

Retries are data: a failed attempt sets `next_attempt_at`; beat's sweep sends a task for every due head. A task
message is only a hint: lost, duplicated or early, the row decides.

Cost: the heads claimed together go out as one task per webhook (`task_shares`). A task tries its heads in
*rounds* (`_attempt_round`): one transaction, one locked read (head checks, key locks, each head's run of later
deliveries, events and clock folded in), the POSTs in position order, one write (every attempt row and delivery
state); then a round for the next heads of the keys that moved on, and so on. A ticket's burst of events costs one
task and, mostly, one round: where each attempt used to pay for a transaction of its own.
"""

import logging
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Field, Model

from apps.common import time as clock
from apps.common.db import model_from_row, prepared_cursor
from apps.common.metrics import record_webhook_attempt
from apps.common.redis_batch import sent_together
from apps.common.tasks import TaskName, on_commit, send_task_rollback_unsafe
from apps.events.representations import event_json_sql
from apps.webhooks import outbound
from apps.webhooks.models import RESPONSE_EXCERPT_BYTES, DeliveryStatus, Webhook
from apps.webhooks.signing import signature_header, signing_secrets
from apps.webhooks.targets import RefusedTarget, Target, resolve

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
# A delivered attempt is the ordinary case: its row (the admin, the deliveries API) and /metrics tell it; a log line
# for each one cost the worker about a tenth of what delivering it did. Retries and failures are logged.
_ATTEMPT_LOG_LEVELS = {"delivered": logging.DEBUG, "pending": logging.INFO, "failed": logging.WARNING}
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


# Claims take turns (a transaction-level lock, held to the claimer's commit, taken by a statement before the claim's
# own, so the claim's snapshot is taken after the previous claimer committed). Two claims at once would each lock
# rows the other was claiming: a FOR UPDATE that finds a row changed under it re-checks the row, and when the row
# no longer qualifies (claimed meanwhile) it is skipped but stays locked to the end of the transaction. A delivery
# task that reached its claimed head in that window found it held (SKIP LOCKED), sent nothing, and the head waited
# for the sweep's resend window, up to WEBHOOK_RESEND_AFTER_SECONDS.
_CLAIMS_TAKE_TURNS = "SELECT pg_advisory_xact_lock(hashtextextended('ticketflow:webhook-claims', 0))"


class Head(NamedTuple):
    """A due head, claimed: its task is about to be sent."""

    delivery_id: int
    webhook_id: int
    attempts: int  # made before; 0: a first try


def send_due(
    *, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH, even_if_sent: bool = False
) -> int:
    """Send delivery tasks for the due heads (of one webhook, or one key, when given) not sent lately; with
    `even_if_sent`, whether sent lately or not (a hand-off: the task it was sent to may have found it held)."""
    with transaction.atomic():
        heads = claim_due_heads(webhook_id=webhook_id, order_key=order_key, limit=limit, even_if_sent=even_if_sent)
        shares = task_shares(heads)
        if shares:
            on_commit(lambda: send_shares(shares))
    return sum(map(len, shares))


def claim_due_heads(
    *, webhook_id: int | None = None, order_key: str | None = None, limit: int = SEND_BATCH, even_if_sent: bool = False
):
    """The due heads whose task was not sent lately (with `even_if_sent`, every due head), oldest due first, marked
    as sent now (in the caller's transaction)."""
    params = {
        "resend_after": 0 if even_if_sent else settings.WEBHOOK_RESEND_AFTER_SECONDS,
        "webhook_id": webhook_id,
        "order_key": order_key,
        "limit": limit,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_CLAIMS_TAKE_TURNS)
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


# A round of attempts reads all it needs in one statement, and only the deliveries that may go: the heads `which`
# picks (by id, or the heads of some keys), each locked (SKIP LOCKED, so a delivery another worker has is not waited
# for), pending and due, the head of its key, its webhook active; whether this transaction got each head's key lock;
# after each head whose key it got, up to `followers` pending deliveries of the key (its run, which this round may
# send after the head, in order, while each attempt settles its delivery); every delivery's event (NULLs once
# retention pruned it); and PostgreSQL's clock as the round starts.
# - The heads are locked in a CTE first (a locking CTE is evaluated once and in full), and the key locks asked in a
#   CTE of their own (one with a volatile function is never inlined), so a key lock is asked only for a head this
#   transaction holds: asked for a row then skipped as locked, it would hold a key that the round does not send, and
#   another worker would pass that key over.
# - A head's columns come from the locking CTE, which returns the row as it is now, not as the statement's snapshot
#   saw it. The followers need no row lock: every sender holds the key's lock, and nothing else writes a pending
#   delivery that is not a head (a claim marks only heads).
_DELIVERY_COLUMNS = ("id", "order_key", "attempts", "give_up_at")
# What an attempt reads of its webhook (the rest, deferred, is never needed). Of its event: its id (the
# `webhook-id`) and the body, written by PostgreSQL as the feed writes it (no Event built, no `data` parsed only to be
# dumped again).
_WEBHOOK_FIELDS = ("id", "url", "secret", "previous_secret", "secret_rotated_at")
_BY_IDS = "d.id = ANY(%(ids)s)"
_HEADS_OF_KEYS = (
    "(d.webhook_id, d.order_key) IN (SELECT * FROM unnest(%(webhook_ids)s::bigint[], %(order_keys)s::text[]))"
)
# A key's run that one round may send after its head: a ticket's burst of events goes in one round, not one round
# (a locked read, a write and a commit) per event.
FOLLOWERS_PER_KEY = HEADS_PER_TASK - 1
_RUN_COLUMNS = "id, order_key, attempts, give_up_at, webhook_id, event_position, next_attempt_at"


# The round's read is planned for each run (settings: plan_cache_mode), though planning it takes PostgreSQL longer
# than running it (1.2 ms against 0.9 for a round of 20, on a slow host). A plan kept per connection was tried
# (SET LOCAL plan_cache_mode = force_generic_plan for the round) and went back out: made while webhook_delivery and
# event were empty, it scanned both tables whole, and kept doing so as they grew until the next ANALYZE.
@cache
def _locked_round(which: str) -> str:
    columns = (
        [f"d.{column}" for column in _DELIVERY_COLUMNS]
        + [f"w.{field.column}" for field in _fields(Webhook, _WEBHOOK_FIELDS)]
        + ["e.id", f"{event_json_sql('e')}::text"]
    )
    return f"""
WITH locked AS (
    SELECT {", ".join(f"d.{column}" for column in _RUN_COLUMNS.split(", "))}
    FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
    WHERE {which} AND d.status = 'pending' AND d.next_attempt_at <= statement_timestamp() AND w.active
      AND {_NO_EARLIER_PENDING}
    FOR UPDATE OF d SKIP LOCKED
), keyed AS (
    SELECT locked.*,
           pg_try_advisory_xact_lock(
               hashtextextended('webhook:' || webhook_id || ':' || coalesce(order_key, 'd' || id), 0)) AS key_locked
    FROM locked
), run AS (
    SELECT {_RUN_COLUMNS}, key_locked, true AS head FROM keyed
    UNION ALL
    SELECT f.*, true, false
    FROM keyed k CROSS JOIN LATERAL (
        SELECT {_RUN_COLUMNS} FROM webhook_delivery f
        WHERE f.webhook_id = k.webhook_id AND f.order_key = k.order_key AND f.status = 'pending'
          AND (f.event_position, f.id) > (k.event_position, k.id)
        ORDER BY f.event_position, f.id
        LIMIT %(followers)s
    ) f
    WHERE k.key_locked AND k.order_key IS NOT NULL
)
SELECT {", ".join(columns)}, d.key_locked, d.head, d.next_attempt_at <= statement_timestamp(), clock_timestamp()
FROM run d
JOIN webhook w ON w.id = d.webhook_id
LEFT JOIN event e ON e.position = d.event_position
ORDER BY d.event_position, d.id
"""


@cache
def _fields(model: type[Model], names: tuple[str, ...]) -> tuple[Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


# A round's attempt rows (append-only) and its deliveries' new states, in one statement. Arrays, not one JSON
# document: PostgreSQL counts an array parameter's elements when it plans, and takes json_to_recordset for 100 rows,
# which on a webhook_delivery of a few thousand rows chose a scan of the whole table over as many lookups (tried).
_RECORD_ATTEMPTS = """
WITH attempt AS (
    SELECT * FROM unnest(
        %(id)s::bigint[], %(number)s::integer[], %(started_at)s::timestamptz[], %(duration_ms)s::integer[],
        %(response_status)s::smallint[], %(error)s::text[], %(excerpt)s::text[], %(status)s::text[],
        %(next_attempt_at)s::timestamptz[], %(finished_at)s::timestamptz[]
    ) AS a (id, number, started_at, duration_ms, response_status, error, excerpt, status, next_attempt_at,
            finished_at)
), recorded AS (
    INSERT INTO webhook_delivery_attempt
        (delivery_id, number, started_at, duration_ms, response_status, error, response_excerpt)
    SELECT id, number, started_at, duration_ms, response_status, error, excerpt FROM attempt
)
UPDATE webhook_delivery d
SET attempts = a.number, enqueued_at = NULL, status = a.status, next_attempt_at = a.next_attempt_at,
    finished_at = a.finished_at
FROM attempt a
WHERE d.id = a.id
"""
_RECORDED_COLUMNS = (
    "id", "number", "started_at", "duration_ms", "response_status", "error", "excerpt", "status", "next_attempt_at",
    "finished_at",
)  # fmt: skip


@dataclass(frozen=True)
class _Locked:
    """A delivery this round holds, as _locked_round read it."""

    delivery_id: int
    attempts: int
    give_up_at: datetime
    order_key: str | None
    webhook: Webhook
    event_id: UUID | None  # None: retention pruned the event
    body: str | None  # the event as API.md shows it
    key_locked: bool  # False: another worker has its key, and this round leaves it alone
    head: bool  # False: a later delivery of a head's key, sent after it while each attempt settles its delivery
    due: bool

    @property
    def key(self) -> tuple[int, str] | None:
        return None if self.order_key is None else (self.webhook.pk, self.order_key)


@dataclass(frozen=True)
class _Tried:
    locked: _Locked
    started_at: datetime
    answer: outbound.Answer
    changes: dict  # the delivery's state after it (_next_state)


@dataclass(frozen=True)
class _Round:
    outcomes: list[Outcome]
    not_tried: list[_Locked]  # heads held, but the deadline came first (or an attempt broke): released untried


def attempt(delivery_id: int) -> Outcome | None:
    """Try the delivery once, if it is pending, due, the head of its key, its webhook active and no other worker
    has it or its key. Returns None when it was not tried."""
    return _only(_attempt_round(_BY_IDS, {"ids": [delivery_id]}, followers=0))


def attempt_head(webhook_id: int, order_key: str) -> Outcome | None:
    """Try the head of one key once, if it is due and no other worker has the key. None when nothing was tried."""
    return _only(_attempt_round(_HEADS_OF_KEYS, _keys_params([(webhook_id, order_key)]), followers=0))


def _only(round_: _Round) -> Outcome | None:
    return round_.outcomes[0] if round_.outcomes else None


def deliver_claimed(delivery_ids: list[int], *, budget_seconds: float = KEY_BUDGET_SECONDS) -> list[Outcome]:
    """Try claimed deliveries in one round (one transaction: one locked read, the POSTs in position order, one
    write), then, round by round, the next heads of the keys that moved on, for up to `budget_seconds` in all.
    Claimed deliveries not reached by then get a task each; keys still due, a task of their own. The outcomes of
    the attempts made."""
    deadline = time.monotonic() + budget_seconds
    with sent_together():
        first = _attempt_round(_BY_IDS, {"ids": delivery_ids}, deadline=deadline, handing_on=_send_each_held)
        return first.outcomes + _follow_keys(first.outcomes, deadline)


def deliver_in_order(delivery_id: int, *, budget_seconds: float = KEY_BUDGET_SECONDS) -> list[Outcome]:
    """Try the delivery, then, while each attempt settles its delivery (delivered or failed), the next head of its
    key, for up to `budget_seconds`: one task sends a key's run of due deliveries, in order, without a task and a
    claim per delivery. A key still due when the budget is spent gets a task of its own (its next head, claimed as
    the sweep claims), so one busy ticket never holds a worker for long. The outcomes of the attempts made."""
    deadline = time.monotonic() + budget_seconds
    with sent_together():
        first = _attempt_round(_BY_IDS, {"ids": [delivery_id]}, followers=0)
        return first.outcomes + _follow_keys(first.outcomes, deadline)


def _follow_keys(outcomes: list[Outcome], deadline: float) -> list[Outcome]:
    """Round after round, the next heads of the keys whose last attempt settled, until none is due or the deadline
    comes; a key still due then is claimed and sent to a task of its own."""
    followed: list[Outcome] = []
    keys = _keys_moving_on(outcomes)
    while keys:
        if time.monotonic() >= deadline:
            _send_keys_on(keys)
            break
        round_ = _attempt_round(
            _HEADS_OF_KEYS, _keys_params(keys), deadline=deadline, handing_on=lambda held: _send_keys_on(_keys_of(held))
        )
        followed += round_.outcomes
        keys = _keys_moving_on(round_.outcomes)
    # No next head due, or another worker has it (it goes on from there), or it waits for a retry (beat's sweep).
    return followed


def _keys_moving_on(outcomes: list[Outcome]) -> list[tuple[int, str]]:
    """The keys whose last attempt settled its delivery (a round may have tried several of one key)."""
    last = {(outcome.webhook_id, outcome.order_key): outcome for outcome in outcomes}
    return [key for key, outcome in last.items() if outcome.key_moves_on]


def _keys_params(keys: list[tuple[int, str]]) -> dict:
    return {"webhook_ids": [webhook_id for webhook_id, _ in keys], "order_keys": [key for _, key in keys]}


def _keys_of(locked: list[_Locked]) -> list[tuple[int, str]]:
    return [(held.webhook.pk, held.order_key) for held in locked if held.order_key is not None]


def _send_keys_on(keys: list[tuple[int, str]]) -> None:
    """Keys this task leaves still due: a task each for their heads. Sent even if a head's task was sent lately:
    that task may have come while this one held the head, found it held and done nothing, and the sweep would
    only send it again after WEBHOOK_RESEND_AFTER_SECONDS."""
    for webhook_id, order_key in keys:
        send_due(webhook_id=webhook_id, order_key=order_key, even_if_sent=True)


def _send_each_held(held: list["_Locked"]) -> None:
    send_each([locked.delivery_id for locked in held])


def _attempt_round(
    which: str, params: dict, *, deadline: float = math.inf, handing_on=None, followers: int = FOLLOWERS_PER_KEY
) -> _Round:
    """One transaction: hold the heads `which` picks that may go, and their keys' runs (up to `followers` each);
    POST them one by one in position order until the deadline, a key's run stopping at the first delivery that is
    not due or that an attempt leaves pending (a retry: the rest of the key waits behind it); and record every
    attempt made in one statement. A transaction per round, not per attempt: a worker killed mid-round rolls the
    round back, and its deliveries are sent again (receivers deduplicate on `webhook-id`), as the one in flight
    always was.

    `handing_on(heads)` gets the heads held but not tried, after the commit. An attempt that raises (a bug) ends the
    round: the attempts before it are recorded, the rest handed on, then the error leaves."""
    tried: list[_Tried] = []
    broken_at: _Locked | None = None
    error: Exception | None = None
    with transaction.atomic():
        with prepared_cursor() as cursor:
            cursor.execute(_locked_round(which), {**params, "followers": followers})
            rows = cursor.fetchall()
        read_at = time.monotonic()
        webhooks: dict[int, Webhook] = {}
        targets: dict[int, Target | RefusedTarget] = {}
        mine = [locked for locked in (_locked(row[:-1], webhooks) for row in rows) if locked.key_locked]
        stopped: set[tuple[int, str]] = set()
        for locked in mine:
            if locked.key in stopped:
                continue
            if not locked.due:
                stopped.add(locked.key)
                continue
            if time.monotonic() >= deadline:
                break
            # PostgreSQL's clock as the round began, moved on by the time the round has taken since.
            started_at = rows[0][-1] + timedelta(seconds=time.monotonic() - read_at)
            try:
                answer = _post(locked, targets)
            except Exception as broken:
                broken_at, error = locked, broken
                break
            changes = _next_state(locked, started_at, answer, event_kept=locked.event_id is not None)
            tried.append(_Tried(locked, started_at, answer, changes))
            if answer.status == 410:
                break  # the webhook is deactivated below, and the round ends with it
            if changes["status"] == DeliveryStatus.PENDING and locked.key is not None:
                stopped.add(locked.key)
        outcomes = _record(tried) if tried else []
    gone = {one.locked.webhook.pk for one in tried if one.answer.status == 410}  # deactivated: nothing more goes
    sent = {one.locked.delivery_id for one in tried}
    not_tried = [
        locked
        for locked in mine
        if locked.head and locked.delivery_id not in sent and locked is not broken_at and locked.webhook.pk not in gone
    ]
    if not_tried and handing_on is not None:
        handing_on(not_tried)
    for outcome in outcomes:
        record_webhook_attempt(_METRIC_OUTCOMES[outcome.status], outcome.duration_ms / 1000)
    if error is not None:
        raise error
    return _Round(outcomes, not_tried)


def _locked(columns: list, webhooks: dict[int, Webhook]) -> _Locked:
    """The delivery, its webhook (built once per round, in `webhooks`) and its event's id and body (None once
    retention pruned it) from _locked_round's columns."""
    webhook_fields = _fields(Webhook, _WEBHOOK_FIELDS)
    delivery_end = len(_DELIVERY_COLUMNS)
    webhook_end = delivery_end + len(webhook_fields)
    delivery_id, order_key, attempts, give_up_at = columns[:delivery_end]
    webhook_id = columns[delivery_end]
    webhook = webhooks.get(webhook_id)
    if webhook is None:
        webhook = webhooks[webhook_id] = model_from_row(Webhook, webhook_fields, columns[delivery_end:webhook_end])
    event_id, body, key_locked, head, due = columns[webhook_end:]
    return _Locked(delivery_id, attempts, give_up_at, order_key, webhook, event_id, body, key_locked, head, due)


def _post(locked: _Locked, targets: dict[int, Target | RefusedTarget]) -> outbound.Answer:
    """One POST of the delivery's event, signed, to its webhook's target. The target is checked again by the round's
    first attempt to the webhook (DNS may have moved since the last round), and `targets` keeps what it found for the
    round's other attempts: they connect to addresses checked in the same round, never to unchecked ones."""
    webhook = locked.webhook
    if locked.event_id is None:
        return outbound.Answer(None, b"", "the event is no longer kept (EVENT_RETENTION_DAYS)", 0)
    target = targets.get(webhook.pk)
    if target is None:
        target = targets[webhook.pk] = _checked_target(webhook.url)
    if isinstance(target, RefusedTarget):
        return outbound.Answer(None, b"", f"target refused: {target}", 0)
    return outbound.post(
        target, body=locked.body.encode(), headers=_headers(webhook, str(locked.event_id), locked.body)
    )


def _checked_target(url: str) -> Target | RefusedTarget:
    try:
        return resolve(url)
    except RefusedTarget as refused:
        return refused


def _record(tried: list[_Tried]) -> list[Outcome]:
    """The round's attempt rows and its deliveries' new states (one statement), a 410's webhook deactivated, and a
    log line per attempt (DEBUG for a delivered one). The outcomes, in the order tried."""
    recorded = []
    for one in tried:
        locked, answer = one.locked, one.answer
        changes = one.changes
        # PostgreSQL text holds no NUL: a receiver's answer with one must not fail the round's write (every attempt
        # of the round would roll back, and be sent again after the resend window, for ever).
        excerpt = answer.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        recorded.append(
            (locked.delivery_id, locked.attempts + 1, one.started_at, answer.duration_ms, answer.status,
             answer.error, excerpt, changes["status"], changes["next_attempt_at"], changes["finished_at"])
        )  # fmt: skip
    by_column = {name: [row[n] for row in recorded] for n, name in enumerate(_RECORDED_COLUMNS)}
    with prepared_cursor() as cursor:
        cursor.execute(_RECORD_ATTEMPTS, by_column)
    gone = {one.locked.webhook.pk for one in tried if one.answer.status == 410}
    if gone:
        Webhook.objects.filter(pk__in=gone).update(active=False)
        for webhook_id in gone:
            logger.warning("webhook deactivated: its receiver answered 410", extra={"webhook_id": webhook_id})
    outcomes = []
    for one, (delivery_id, number, *_, status, _next, _finished) in zip(tried, recorded, strict=True):
        event_id, answer = one.locked.event_id, one.answer
        logger.log(
            _ATTEMPT_LOG_LEVELS[status],
            "webhook attempt",
            extra={
                "webhook_id": one.locked.webhook.pk,
                "delivery_id": delivery_id,
                "event_id": None if event_id is None else str(event_id),
                "attempt": number,
                "response_status": answer.status,
                "error": answer.error,
                "duration_ms": answer.duration_ms,
                "outcome": status,
            },
        )
        outcomes.append(Outcome(status, answer.duration_ms, one.locked.webhook.pk, one.locked.order_key))
    return outcomes


def _headers(webhook, event_id: str, body: str) -> dict[str, str]:
    now = clock.utc_now()
    signature = signature_header(
        signing_secrets(webhook, at=now), message_id=event_id, timestamp=now.replace(microsecond=0), body=body
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _next_state(locked: _Locked, started_at: datetime, answer: outbound.Answer, *, event_kept: bool) -> dict:
    """The delivery's state after an attempt: 2xx delivered; 410 failed (the caller deactivates the webhook);
    anything else retried per WEBHOOK_RETRY_SCHEDULE until give_up_at, then failed."""
    finished_at = started_at
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
