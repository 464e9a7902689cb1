"""Scenario 7: the event feed at size. Events are bulk-loaded in SQL (one INSERT … generate_series per chunk: the
append-only trigger lets INSERTs through, and the statement trigger claims the feed's horizon as for any writer) up
to each size, then `GET /api/v1/events?after=<random position>` (default limit, no `Prefer`) is timed through the
stack's gunicorn by a few concurrent clients. Target: p99 ≤ 50 ms at 1,000,000 events, flat from 100,000.

It runs last: the events it loads stay in the database.
"""

import random
import time

from django.db import connection, transaction

from bench.context import Context
from bench.data import analyze
from bench.loadgen import Client, run_clients
from bench.scenarios.scale import FLAT_MAX
from bench.stats import summary_ms

P99_LIMIT_MS = 50
NOISE_FLOOR_MS = 5  # a change smaller than this is flat whatever its ratio (scale.py's reasoning)
CHUNK = 100_000

# Shaped like the events commands record: a ticket's transition with the ticket and its session, ~0.5 KiB.
EVENTS_SQL = """
INSERT INTO event (id, type, occurred_at, ticket_id, technician_id, actor_id, data)
SELECT gen_random_uuid(), (%(types)s::text[])[1 + g %% cardinality(%(types)s::text[])],
       now() - make_interval(secs => %(hi)s - g), g / 8, 1000 + g %% 500, 1000 + g %% 500,
       jsonb_build_object(
           'ticket', jsonb_build_object('id', g / 8, 'status', 'in_progress', 'inventory_item_id', g / 8,
                                        'technician_id', 1000 + g %% 500, 'priority', 'normal',
                                        'updated_at', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
           'work_session', jsonb_build_object('id', g, 'status', 'running', 'active_seconds', g %% 3600,
                                              'auto_resume_at', NULL),
           'transition', jsonb_build_object('from_status', 'assigned', 'to_status', 'in_progress',
                                            'event_at', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
FROM generate_series(%(lo)s, %(hi)s) AS g
"""


def run(ctx: Context) -> dict:
    from apps.events.models import EventType

    types = [t for t in EventType.values if t.startswith(("ticket.", "work_session.", "xp."))]
    stages, loaded = [], _stored()
    for size in ctx.params.feed:
        started = time.perf_counter()
        loaded = _load(ctx, types, start=loaded, upto=size)
        load_seconds = round(time.perf_counter() - started, 1)
        stages.append({"events": loaded, "load_seconds": load_seconds, "feed": _time_feed(ctx, loaded)})
    return {"stages": stages, "growth": growth(stages) if len(stages) > 1 else None, "problems": []}


def _stored() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM event")
        return cursor.fetchone()[0]


def _load(ctx: Context, types: list[str], *, start: int, upto: int) -> int:
    with ctx.bar(f"feed: loading events up to {upto:,}", upto) as bar:
        for lo in range(start + 1, upto + 1, CHUNK):
            hi = min(lo + CHUNK - 1, upto)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(EVENTS_SQL, {"types": types, "lo": lo, "hi": hi})
            bar.set(hi)
    analyze(vacuum=True)  # as autovacuum would leave a live table: the first reads do not pay for hint bits
    return _stored()


def _time_feed(ctx: Context, stored: int) -> dict:
    """`feed_requests` GETs at uniformly random `after` positions, from `list_clients` clients."""
    from apps.events.feed import horizon

    top = horizon()
    requests, clients = ctx.params.feed_requests, ctx.params.list_clients
    rng = random.Random(stored)
    positions = [rng.randint(0, top) for _ in range(requests)]
    items: list[int] = []

    def work(client: Client) -> None:
        for n in range(client.index, requests, clients):
            response = client.request(
                "GET", "/api/v1/events", token=ctx.staff.admin_token, params={"after": positions[n]}
            )
            response.raise_for_status()
            items.append(len(response.json()["items"]))

    samples = run_clients(ctx.stack.base_url, clients, work)
    return {
        "clients": clients,
        "items_per_page_mean": round(sum(items) / len(items), 1) if items else None,
        **summary_ms(s.seconds for s in samples if s.status == 200),
    }


def growth(stages: list[dict]) -> dict:
    small, large = stages[0], stages[-1]
    before, after = small["feed"]["p99_ms"], large["feed"]["p99_ms"]
    ratio = after / before if before else None
    flat = ratio is not None and (ratio <= FLAT_MAX or after - before <= NOISE_FLOOR_MS)
    return {
        "events_factor": round(large["events"] / small["events"], 1),
        "p99_before_ms": before,
        "p99_after_ms": after,
        "p50_factor": round(large["feed"]["p50_ms"] / small["feed"]["p50_ms"], 2) if small["feed"]["p50_ms"] else None,
        "p99_factor": round(ratio, 2) if ratio else None,
        "shape": "flat" if flat else "growing",
    }


# --- the report ---------------------------------------------------------------------------------------------------


def target_rows(result: dict | None) -> list[tuple]:
    """(target, limit, measured, met, measured ÷ limit) rows for bench/report.py."""
    stage = result["stages"][-1] if result and result.get("stages") else None
    p99 = stage and stage["feed"]["p99_ms"]
    size = f"{stage['events']:,} events" if stage else "the largest size"
    rows = [
        (
            f"GET /events?after= p99, {size}",
            f"≤ {P99_LIMIT_MS} ms",
            f"{p99:g} ms" if p99 is not None else "-",
            None if p99 is None else p99 <= P99_LIMIT_MS,
            None if p99 is None else p99 / P99_LIMIT_MS,
        )
    ]
    g = result and result.get("growth")
    measured = f"{g['shape']} (p99 {g['p99_before_ms']} -> {g['p99_after_ms']} ms, {g['p99_factor']}x)" if g else "-"
    label = f"feed growth, {g['events_factor']:g}x the events" if g else "feed growth"
    rows.append((label, "flat", measured, None if not g else g["shape"] == "flat", None))
    return rows


def figure_rows(result: dict | None) -> list[tuple[str, str]]:
    rows = []
    for stage in (result or {}).get("stages", []):
        feed = stage["feed"]
        rows.append(
            (
                f"7. {stage['events']:,} events: GET /events?after= p50 / p99 / max ms ({feed['n']} requests, "
                f"{feed['clients']} clients, {feed['items_per_page_mean']} items per page)",
                f"{feed['p50_ms']} / {feed['p99_ms']} / {feed['max_ms']}",
            )
        )
        rows.append((f"7. {stage['events']:,} events: bulk load s", str(stage["load_seconds"])))
    return rows
