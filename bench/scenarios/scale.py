"""Scenario 4: cost against table size, at each size in `--scale` (default 10k, then 100k).

Bulk-loaded in SQL: as many in-progress tickets (two part specs each) with one paused session each (deadlines
two hours out, 10 ms apart). At each size: the sweep's exact query with 0 due and with 1,000 due (timed from the
ORM, 500-row batch as the sweep asks for, plus PostgreSQL's own execution time and the index it used), a full
rules-change recompute of ticket metrics, and `GET /api/v1/tickets` round trips (several filters and cursors).
"""

import json
import random
import time
from datetime import timedelta

from bench.context import Context
from bench.data import analyze
from bench.loadgen import STOP, Client, run_clients
from bench.stats import percentile, summary_ms

DEADLINES_FROM_NOW = timedelta(hours=2)
EXPLAIN_REPEATS = 21
DIVISORS = (7, 11, 13, 17)  # each size recomputes under a divisor no ticket's metrics match yet


def run(ctx: Context) -> dict:
    from apps.common.time import utc_now

    first_deadline = utc_now() + DEADLINES_FROM_NOW
    stages, loaded = [], 0
    for stage, size in enumerate(ctx.params.scale):
        with ctx.bar(f"scale: loading {size:,} paused sessions and tickets", 1) as bar:
            started = time.perf_counter()
            ctx.builder.paused_sessions("scale", loaded + 1, size, ctx.staff, first_deadline=first_deadline)
            analyze(vacuum=True)
            load_seconds = time.perf_counter() - started
            bar.set(1)
        loaded = size
        stages.append(
            {
                "rows": size,
                "load_seconds": round(load_seconds, 1),
                "sweep_0_due": _time_sweep(ctx, at=utc_now()),
                "sweep_1000_due": _time_sweep(ctx, at=first_deadline + timedelta(seconds=10)),
                "recompute": _time_recompute(ctx, divisor=DIVISORS[stage % len(DIVISORS)]),
                "list_tickets": _time_list(ctx),
            }
        )
    return {"stages": stages, "growth": growth(stages) if len(stages) > 1 else {}}


def _time_sweep(ctx: Context, *, at) -> dict:
    from django.db import connection

    from apps.ticket.models import WorkSession
    from workers.timers import SWEEP_BATCH

    def query():
        return (
            WorkSession.domain.paused_due(at)
            .order_by("auto_resume_at")
            .values_list("pk", "ticket_id", "auto_resume_at")[:SWEEP_BATCH]
        )

    timings, rows = [], 0
    for _ in range(ctx.params.query_repeats):
        started = time.perf_counter()
        rows = len(list(query()))
        timings.append(time.perf_counter() - started)
    sql, params = query().query.sql_with_params()
    server, plans = [], []
    with connection.cursor() as cursor:
        for _ in range(EXPLAIN_REPEATS):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            (plan,) = cursor.fetchone()
            plans.append(json.loads(plan) if isinstance(plan, str) else plan)
            server.append(plans[-1][0]["Execution Time"])
    return {
        **summary_ms(timings),
        "rows": rows,
        "server_ms": round(percentile(server, 50), 3),  # PostgreSQL's own execution time, median
        "indexes": sorted(set(_indexes(plans[-1][0]["Plan"]))),
    }


def _indexes(node: dict):
    if "Index Name" in node:
        yield node["Index Name"]
    for child in node.get("Plans", []):
        yield from _indexes(child)


def _time_recompute(ctx: Context, *, divisor: int) -> dict:
    from apps.common.time import utc_now
    from apps.rules.config import TicketXpConfig
    from apps.rules.selectors import active_rules
    from apps.ticket.services_rules_change import recompute_auto_metrics

    started = time.perf_counter()
    changed = recompute_auto_metrics(xp_rules=TicketXpConfig(base_divisor=divisor), at=utc_now())
    seconds = time.perf_counter() - started
    # Back in line with the active rules (untimed): else the next rules change re-derives every one of these
    # tickets in the worker, in the middle of whatever scenario is measuring then.
    recompute_auto_metrics(xp_rules=active_rules().config.ticket_xp, at=utc_now())
    return {"seconds": round(seconds, 3), "changed": changed, "tickets_per_s": round(changed / seconds)}


def _time_list(ctx: Context) -> dict:
    from apps.common.api import encode_cursor
    from apps.ticket.models import Ticket

    low, high = Ticket.objects.order_by("id").values_list("id", flat=True)[0], Ticket.objects.latest("id").id
    technicians = list(
        Ticket.objects.filter(status="in_progress").order_by("?").values_list("technician_id", flat=True)[:200]
    )
    rng = random.Random(42)
    variants = {
        "first page": lambda: {},
        "deep cursor": lambda: {"cursor": encode_cursor(rng.randint(low, high))},
        "status=in_progress": lambda: {"status": "in_progress"},
        "technician_id": lambda: {"technician_id": rng.choice(technicians)},
        "flag_color=red (none match)": lambda: {"flag_color": "red"},
    }
    names = list(variants)
    per_client = ctx.params.list_requests // ctx.params.list_clients
    by_variant: dict[str, list[float]] = {name: [] for name in names}
    failures = []

    def work(client: Client) -> None:
        for n in range(per_client):
            if STOP.is_set():
                return
            name = names[(n + client.index) % len(names)]
            response = client.request("GET", "/api/v1/tickets", token=ctx.staff.admin_token, params=variants[name]())
            if response.status_code != 200:
                failures.append(response.status_code)
            by_variant[name].append(client.samples[-1].seconds)

    total = per_client * ctx.params.list_clients
    with ctx.bar("scale: GET /api/v1/tickets", total) as bar:
        run_clients(
            ctx.stack.base_url,
            ctx.params.list_clients,
            work,
            on_tick=lambda: bar.set(sum(len(v) for v in by_variant.values())),
        )
    if failures:
        raise RuntimeError(f"GET /api/v1/tickets failed: {failures[:5]}")
    every = [s for values in by_variant.values() for s in values]
    return {
        "clients": ctx.params.list_clients,
        **summary_ms(every),
        "variants": {name: summary_ms(values) for name, values in by_variant.items()},
    }


# For ten times the rows: "flat" when the cost at most doubles, "linear" up to 15x (10x is proportional). A change
# smaller than the noise floor (in the measure's own unit) is flat whatever its ratio: sub-millisecond timings on a
# shared machine jump by more than 2x between runs.
FLAT_MAX, LINEAR_MAX = 2.0, 15.0


def growth(stages: list[dict]) -> dict:
    small, large = stages[0], stages[-1]
    factor = large["rows"] / small["rows"]
    measures = {  # name: (value at the smallest size, at the largest, noise floor)
        "sweep_0_due_server_ms": (small["sweep_0_due"]["server_ms"], large["sweep_0_due"]["server_ms"], 0.5),
        "sweep_1000_due_server_ms": (small["sweep_1000_due"]["server_ms"], large["sweep_1000_due"]["server_ms"], 0.5),
        "recompute_seconds": (small["recompute"]["seconds"], large["recompute"]["seconds"], 0.1),
        "list_tickets_p99_ms": (small["list_tickets"]["p99_ms"], large["list_tickets"]["p99_ms"], 5),
    }
    out = {}
    for name, (before, after, floor) in measures.items():
        ratio = after / before if before else None
        out[name] = {
            "rows_factor": factor,
            "before": before,
            "after": after,
            "cost_factor": round(ratio, 2) if ratio else None,
            "shape": _shape(before, after, factor, floor),
        }
    return out


def _shape(before: float | None, after: float | None, factor: float, floor: float) -> str:
    if not before or after is None:
        return "unknown"
    ratio = after / before
    if ratio <= FLAT_MAX or after - before <= floor:
        return "flat"
    if ratio <= factor * LINEAR_MAX / 10:
        return "linear"
    return "superlinear"
