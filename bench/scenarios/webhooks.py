"""Scenario 8: what webhooks cost the command pipeline, and how fast they deliver.

- Cost: scenario 1's drive at full speed, four times on batches of K/2 fresh tickets: with no webhook, with two
  active webhooks whose receiver (a real HTTP server in a process of its own, bench/receiver.py) answers 200 at
  once, again with two, again with none. Same run, same worker (it consumes the webhooks queue too, as the
  Procfile's does): the ratio of the mean sustained rates, and the CPU per command of each process (the worker's
  with the deliveries included; the receiver's apart: in production it runs elsewhere).
  Every event of a drive with webhooks must reach both before the next phase starts, and the sustained rate counts
  that wait: commands ÷ (first submission to last finish + the time the deliveries took after it). A drive's rate
  alone would flatter a pipeline that leaves its deliveries behind (it is reported too). Target ≥ 0.85.
- Statements per command: each step of a ticket's life applied in the harness (the worker never sees these
  commands) with every SQL statement counted; the outbox's share is its INSERT INTO event.
- Delivery: a backlog recorded in one transaction (as `record_events` does for any change) is delivered to one
  webhook: events delivered per second. Then events are recorded one per transaction at half that rate, and each
  one's event→delivered latency is taken from the database: the successful attempt's start plus its duration,
  minus the event's `recorded_at` (its transaction's start, so the figure includes the commit). Target p99 ≤ 1 s.
"""

import time
from collections import Counter, defaultdict

import httpx

from bench.context import Context
from bench.data import Batch
from bench.loadgen import STOP
from bench.receiver import LeanReceiver
from bench.scenarios import throughput
from bench.stats import summary_ms

COST_RATIO_FLOOR = 0.85
LATENCY_P99_LIMIT_MS = 1000
EVENTS_PER_KEY = 5  # the backlog's events share a ticket five at a time: one key's deliveries go out in order
KEYS_AT_HALF_RATE = 50


# Phases in A B B A order, so a machine that speeds up or slows down during the run weighs on both sides alike.
COST_PHASES = ("none", "two", "two", "none")


def cost(ctx: Context, batches: list[Batch]) -> dict:
    """One drive per phase of COST_PHASES, each on a batch of its own; after a drive with webhooks, the wait until
    both have every event of it (so the next phase never competes with its deliveries)."""
    receiver, phases, problems = LeanReceiver().start(), [], []
    try:
        for n, (kind, batch) in enumerate(zip(COST_PHASES, batches, strict=True), start=1):
            hooks = []
            try:
                if kind == "two":
                    hooks = [_create_webhook(ctx, receiver.url, f"bench cost {n}.{k}") for k in (1, 2)]
                    _wait_for_every_process_to_see_them()
                cpu_before, harness_before = ctx.stack.cpu_snapshot(), time.process_time()
                receiver_before = receiver.cpu_seconds()
                drive = throughput.drive(ctx, batch, label=f"cost {n}: {kind} webhooks")
                delivered = _wait_delivered(ctx, hooks, label=f"cost {n}: delivering") if hooks else {}
                cpu = ctx.stack.cpu_used(cpu_before, ctx.stack.cpu_snapshot())
                harness_cpu = time.process_time() - harness_before  # the clients
                receiver_cpu = receiver.cpu_seconds() - receiver_before
            finally:
                for hook in hooks:
                    _deactivate(ctx, hook)
            problems += drive["problems"] + delivered.pop("problems", [])
            window = drive["applied_window_seconds"] + delivered.get("drained_seconds", 0)
            phases.append(
                {
                    "webhooks": kind,
                    "applied_per_s": drive["applied_per_s"],
                    "sustained_per_s": round(drive["commands"] / window, 1) if window else None,
                    "submit_to_finished": drive["submit_to_finished"],
                    "worker_cpu_ms_per_command": round(cpu.get("worker", 0) * 1000 / drive["commands"], 1),
                    "postgres_cpu_ms_per_command": round(cpu.get("postgres", 0) * 1000 / drive["commands"], 1),
                    "web_cpu_ms_per_command": round(cpu.get("web", 0) * 1000 / drive["commands"], 1),
                    "harness_cpu_ms_per_command": round(harness_cpu * 1000 / drive["commands"], 1),
                    "receiver_cpu_ms_per_command": round(receiver_cpu * 1000 / drive["commands"], 1),
                    **delivered,
                }
            )
    finally:
        receiver.stop()
    sustained, sustained_ratio = _mean_rates(phases, "sustained_per_s")
    drive_rates, drive_ratio = _mean_rates(phases, "applied_per_s")
    return {
        "phases": phases,
        "tickets_per_phase": len(batches[0]),
        "applied_per_s": sustained,
        "applied_ratio": sustained_ratio,
        "drive_applied_per_s": drive_rates,  # without the deliveries' catch-up: for comparison with older runs
        "drive_applied_ratio": drive_ratio,
        "problems": problems,
    }


def _mean_rates(phases: list[dict], field: str) -> tuple[dict, float | None]:
    """The mean of `field` over the phases of each kind, and two ÷ none."""
    rates = {kind: [p[field] for p in phases if p["webhooks"] == kind] for kind in ("none", "two")}
    mean = {kind: sum(r) / len(r) if r and all(r) else None for kind, r in rates.items()}
    ratio = mean["two"] / mean["none"] if mean["two"] and mean["none"] else None
    return {kind: round(value, 1) if value else None for kind, value in mean.items()}, (
        round(ratio, 3) if ratio else None
    )


def statements_per_command(ctx: Context, batch: Batch) -> dict:
    """Statements each command type's application runs, in all and in the outbox (INSERT INTO "event")."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.commands.processing import drain_lane
    from apps.common.time import utc_now
    from apps.rules.selectors import active_rules
    from apps.ticket.models import Ticket
    from apps.webhooks.kick import active_webhooks
    from tests.support.builders import pending_command

    qc = get_user_model().objects.get(username="bench-qc_inspector")
    counts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ticket in Ticket.objects.filter(pk__in=batch.ticket_ids).select_related("technician"):
        for command_type, who in throughput.STEPS:
            actor = qc if who == "qc" else ticket.technician
            pending_command(actor, command_type, at=utc_now(), ticket_id=ticket.pk)
            # Both are a process's remembered answers, re-read every few seconds whatever it applies, not per
            # command: left to expire, they would add a statement to whichever command met the expiry (a pause,
            # the first to read the rules, every run). tests/integration/test_write_path_statements.py agrees.
            active_webhooks.exist()
            active_rules()
            seen = StatementLog()
            with connection.execute_wrapper(seen):
                drain_lane(f"ticket:{ticket.pk}")
            counts[command_type].append((len(seen), sum('INSERT INTO "event"' in sql for sql in seen)))
    by_type = {
        command_type: {
            "statements": max(total for total, _ in runs),
            "outbox": max(outbox for _, outbox in runs),
            "before_outbox": max(total - outbox for total, outbox in runs),
        }
        for command_type, runs in counts.items()
    }
    every = [total for runs in counts.values() for total, _ in runs]
    outbox = [o for runs in counts.values() for _, o in runs]
    return {
        "tickets": len(batch),
        "by_type": by_type,
        "mean_statements": round(sum(every) / len(every), 2),
        "mean_before_outbox": round((sum(every) - sum(outbox)) / len(every), 2),
    }


class StatementLog(list):
    """A `connection.execute_wrapper` that keeps the SQL of every statement run through it."""

    def __call__(self, execute, sql, params, many, context):
        self.append(sql)
        return execute(sql, params, many, context)


def delivery(ctx: Context) -> dict:
    receiver = LeanReceiver().start()
    hook = _create_webhook(ctx, receiver.url, "bench delivery")
    try:
        _wait_for_every_process_to_see_them()
        backlog = _max_rate(ctx, hook)
        rate = backlog["delivered_per_s"] / 2
        paced = _latency_at(ctx, hook, rate)
    finally:
        _deactivate(ctx, hook)
        receiver.stop()
    return {"backlog": backlog, "half_rate": paced, "problems": backlog.pop("problems") + paced.pop("problems")}


def _max_rate(ctx: Context, hook: dict) -> dict:
    from django.db import transaction

    from apps.events.recording import record_events

    count = ctx.params.webhook_backlog
    with transaction.atomic():
        events = record_events(_new_events(count, keys=max(1, count // EVENTS_PER_KEY)))
    first, last = events[0].position, events[-1].position
    result = _wait_delivered(ctx, [hook], label="delivery: backlog", positions=(first, last))
    rows = _attempts(hook, (first, last))
    window = max(end for _, end, _ in rows) - min(start for start, _, _ in rows) if rows else None
    return {
        "events": count,
        "ordering_keys": max(1, count // EVENTS_PER_KEY),
        "delivered_per_s": round(len(rows) / window.total_seconds(), 1) if window else None,
        "event_to_delivered": summary_ms((end - recorded).total_seconds() for _, end, recorded in rows),
        **result,
    }


def _latency_at(ctx: Context, hook: dict, rate: float) -> dict:
    from django.db import transaction

    from apps.events.recording import record_events

    seconds = ctx.params.webhook_paced_seconds
    count = max(1, int(rate * seconds))
    positions = []
    started = time.perf_counter()
    with ctx.bar(f"delivery: recording at {rate:.0f} events/s", count) as bar:
        for n, event in enumerate(_new_events(count, keys=KEYS_AT_HALF_RATE)):
            if STOP.is_set():
                raise KeyboardInterrupt
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with transaction.atomic():
                positions.append(record_events([event])[0].position)
            bar.set(n + 1)
    offered = count / (time.perf_counter() - started)
    span = (positions[0], positions[-1])
    result = _wait_delivered(ctx, [hook], label="delivery: paced", positions=span)
    rows = _attempts(hook, span)
    return {
        "target_rate_per_s": round(rate, 1),
        "offered_per_s": round(offered, 1),
        "events": count,
        "event_to_delivered": summary_ms((end - recorded).total_seconds() for _, end, recorded in rows),
        **result,
    }


def _new_events(count: int, *, keys: int):
    from apps.common.time import utc_now
    from apps.events.models import EventType
    from apps.events.recording import NewEvent

    now = utc_now()
    return [
        NewEvent(
            type=EventType.TICKET_MANUAL_METRICS_SET,
            occurred_at=now,
            data={"bench": True, "n": n},
            ticket_id=-(1 + n % keys),  # no real ticket has a negative id
        )
        for n in range(count)
    ]


def _attempts(hook: dict, positions: tuple[int, int]) -> list[tuple]:
    """(attempt start, attempt end, event recorded_at) of each delivered delivery of the span."""
    from datetime import timedelta

    from apps.webhooks.models import DeliveryAttempt

    rows = DeliveryAttempt.objects.filter(
        delivery__webhook_id=hook["id"],
        delivery__status="delivered",
        delivery__event_position__range=positions,
        response_status__gte=200,
        response_status__lt=300,
    ).values_list("started_at", "duration_ms", "delivery__event_recorded_at")
    return [(start, start + timedelta(milliseconds=ms), recorded) for start, ms, recorded in rows]


def _wait_delivered(ctx: Context, hooks: list[dict], *, label: str, positions: tuple[int, int] | None = None) -> dict:
    """Wait until every event of `positions` (else: every event since the webhooks were made) is delivered to
    each webhook; the figures of the wait and the problems it found."""
    from apps.events.feed import horizon
    from apps.events.models import Event
    from apps.webhooks.models import WebhookDelivery

    ids = [hook["id"] for hook in hooks]
    span = positions or (min(hook["cursor"] for hook in hooks) + 1, horizon())
    expected = Event.objects.filter(position__range=span).count() * len(ids)
    deliveries = WebhookDelivery.objects.filter(webhook_id__in=ids, event_position__range=span)
    started, timeout = time.monotonic(), ctx.params.webhook_wait_seconds
    with ctx.bar(label, expected) as bar:
        while (done := deliveries.filter(status="delivered").count()) < expected:
            bar.set(done)
            if time.monotonic() - started > timeout or STOP.is_set():
                break
            time.sleep(0.2)
        bar.set(done)
    statuses = Counter(deliveries.values_list("status", flat=True))
    problems = []
    if done < expected:
        problems.append(f"{label}: {done} of {expected} deliveries delivered after {timeout} s ({dict(statuses)})")
    return {
        "deliveries_expected": expected,
        "deliveries": dict(statuses),
        "drained_seconds": round(time.monotonic() - started, 1),
        "problems": problems,
    }


def _create_webhook(ctx: Context, url: str, description: str) -> dict:
    from apps.webhooks.models import Webhook

    response = httpx.post(
        f"{ctx.stack.base_url}/api/v1/webhooks",
        headers={"Authorization": f"Bearer {ctx.staff.admin_token}"},
        json={"url": url, "description": description},
        timeout=30,
    )
    response.raise_for_status()
    hook = response.json()
    hook["cursor"] = Webhook.objects.get(pk=hook["id"]).cursor  # the feed position it starts after
    return hook


def _deactivate(ctx: Context, hook: dict) -> None:
    httpx.delete(
        f"{ctx.stack.base_url}/api/v1/webhooks/{hook['id']}",
        headers={"Authorization": f"Bearer {ctx.staff.admin_token}"},
        timeout=30,
    ).raise_for_status()


def _wait_for_every_process_to_see_them() -> None:
    """The web and worker processes (and this one) ask whether an active webhook exists every few seconds."""
    from apps.webhooks.kick import ACTIVE_RECHECK_SECONDS

    time.sleep(ACTIVE_RECHECK_SECONDS + 0.5)


# --- the report ---------------------------------------------------------------------------------------------------


def target_rows(cost_result: dict | None, delivery_result: dict | None) -> list[tuple]:
    """(target, limit, measured, met, measured ÷ limit) rows for bench/report.py."""
    ratio = cost_result and cost_result.get("applied_ratio")
    rates = cost_result and cost_result["applied_per_s"]
    rows = [
        (
            "applied commands/s, two webhooks ÷ none, sustained (deliveries caught up)",
            f"≥ {COST_RATIO_FLOOR}",
            f"{rates['two']}/s ÷ {rates['none']}/s = {ratio}" if ratio else "-",
            None if ratio is None else ratio >= COST_RATIO_FLOOR,
            None if ratio is None else ratio / COST_RATIO_FLOOR,
        )
    ]
    half = delivery_result and delivery_result["half_rate"]
    p99 = half and half["event_to_delivered"]["p99_ms"]
    rows.append(
        (
            f"event→delivered p99 at half the delivery rate ({half['offered_per_s']}/s)"
            if half
            else "event→delivered p99 at half the delivery rate",
            f"≤ {LATENCY_P99_LIMIT_MS} ms",
            f"{p99:g} ms" if p99 is not None else "-",
            None if p99 is None else p99 <= LATENCY_P99_LIMIT_MS,
            None if p99 is None else p99 / LATENCY_P99_LIMIT_MS,
        )
    )
    return rows


def figure_rows(cost_result: dict | None, statements: dict | None, delivery_result: dict | None) -> list[tuple]:
    rows = []
    for n, phase in enumerate((cost_result or {}).get("phases", []), start=1):
        title = f"8. cost phase {n}, {phase['webhooks']} webhooks"
        rows.append(
            (
                f"{title}: applied commands/s, sustained (deliveries caught up) / the drive alone",
                f"{phase.get('sustained_per_s')} / {phase['applied_per_s']}",
            )
        )
        rows.append(
            (
                f"{title}: CPU ms per command, worker / PostgreSQL / web / clients / receiver (deliveries included)",
                " / ".join(
                    str(phase.get(f"{name}_cpu_ms_per_command", "-"))
                    for name in ("worker", "postgres", "web", "harness", "receiver")
                ),
            )
        )
        if "drained_seconds" in phase:
            rows.append(
                (f"{title}: deliveries done, s after the drive", f"{phase['deliveries']} in {phase['drained_seconds']}")
            )
    if (cost_result or {}).get("drive_applied_ratio"):
        rates = cost_result["drive_applied_per_s"]
        rows.append(
            (
                "8. two webhooks ÷ none, the drives alone (deliveries left behind not counted; runs before "
                "2026-12-03 reported this)",
                f"{rates['two']}/s ÷ {rates['none']}/s = {cost_result['drive_applied_ratio']}",
            )
        )
    if statements:
        rows.append(
            (
                "8. statements per applied command, mean before / after the outbox",
                f"{statements['mean_before_outbox']} / {statements['mean_statements']}",
            )
        )
        for command_type, n in statements["by_type"].items():
            rows.append(
                (f"8. statements: {command_type} (outbox's INSERT INTO event)", f"{n['statements']} ({n['outbox']})")
            )
    if delivery_result:
        backlog, half = delivery_result["backlog"], delivery_result["half_rate"]
        rows.append(
            (
                f"8. delivery: events delivered/s, backlog of {backlog['events']:,} "
                f"({backlog['ordering_keys']:,} tickets)",
                str(backlog["delivered_per_s"]),
            )
        )
        latency = half["event_to_delivered"]
        rows.append(
            (
                f"8. delivery at {half['offered_per_s']}/s: event→delivered p50 / p99 / max ms",
                f"{latency['p50_ms']} / {latency['p99_ms']} / {latency['max_ms']}",
            )
        )
    return rows
