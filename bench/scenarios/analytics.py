"""Scenario 6: the analytics endpoints over a month of history, at each size in `--analytics` (default 10,000 then
100,000 tickets: 100,000 and 1,000,000 session transitions), in a database of their own with a gunicorn of its own
(the other scenarios' rows — thousands of technicians with one paused session each — are not a shop's month).

At each size: every endpoint's latency over HTTP, one request at a time, for the default range (the last 7 days)
and for the whole month (30 days); at the largest, PostgreSQL's plan of each query (EXPLAIN ANALYZE, for
BENCHMARKS.md). Growth from the smallest size to the largest, as scenario 4 judges it.
"""

import random
import time
from datetime import timedelta

import httpx
import psycopg

from bench.analytics_data import load
from bench.context import Context
from bench.scenarios.scale import _shape
from bench.stack import PG
from bench.stats import summary_ms
from tests.support.bulk import user_insert
from tests.support.processes import Web, free_port, migrate

P99_TARGET_MS = 200
ENDPOINTS = ("technicians", "days", "tickets", "leaderboard")
RANGES = {"7 days (default)": None, "30 days": 30}


def run(ctx: Context) -> dict:
    stack, settings = ctx.stack, ctx.stack.settings
    db_name = f"{settings.db_name}_analytics"
    stack.create_database(db_name)
    env = settings.env(DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db_name}")
    migrate(env)
    web = Web(
        stack._log_name("web-analytics"),
        env,
        port=free_port(),
        workers=settings.web_workers,
        threads=settings.web_threads,
        extra=("--timeout", "60"),
        log_dir=settings.log_dir,
    )
    stack.children["web-analytics"] = web.start()
    web.wait_ready()
    try:
        with psycopg.connect(dbname=db_name, autocommit=True, **PG) as conn:
            staff, token = _staff(conn)
            stages, loaded = [], 0
            for size in ctx.params.analytics:
                with ctx.bar(f"analytics: loading {size - loaded:,} tickets' month of history", 1) as bar:
                    started = time.perf_counter()
                    now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                    counts = load(conn, f"s{size}", size - loaded, now=now, staff=staff)
                    conn.execute("VACUUM ANALYZE")
                    load_seconds = time.perf_counter() - started
                    bar.set(1)
                loaded = size
                technicians = [
                    row[0]
                    for row in conn.execute("SELECT id FROM accounts_user WHERE 'technician' = ANY (roles)").fetchall()
                ]
                stage = {
                    "tickets": size,
                    "rows": counts,
                    "load_seconds": round(load_seconds, 1),
                    "latency": _time_endpoints(ctx, web.url, token, technicians, now),
                }
                stages.append(stage)
            stages[-1]["plans"] = _plans(conn, technicians[0])
    finally:
        stack.stop("web-analytics")
    return {"stages": stages, "growth": _growth(stages) if len(stages) > 1 else {}}


def _staff(conn: psycopg.Connection) -> tuple[dict, str]:
    """An admin (with a token), a master and a QC inspector."""
    now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    ids = {}
    for role, key in (("admin", "admin"), ("master", "master"), ("qc_inspector", "inspector")):
        statement, defaults = user_insert(
            username="%(name)s", roles="ARRAY[%(role)s]::varchar(20)[]", returning="RETURNING id"
        )
        ids[key] = conn.execute(statement, {"name": f"an-{key}", "role": role, "at": now, **defaults}).fetchone()[0]
    token = f"tf_analytics_{random.getrandbits(64):x}"
    conn.execute(
        """
        INSERT INTO accounts_apitoken (token_hash, hint, created_at, revoked_at, user_id)
        VALUES (encode(sha256(convert_to(%(raw)s, 'UTF8')), 'hex'), left(%(raw)s, 10), %(at)s, NULL, %(user)s)
        """,
        {"raw": token, "at": now, "user": ids["admin"]},
    )
    return ids, token


def _paths(technicians: list[int], now, days: int | None, rng: random.Random) -> dict:
    query = {} if days is None else {"from": (now.date() - timedelta(days=days - 1)).isoformat(), "to": now.date()}
    return {
        "technicians": lambda: ("/api/v1/analytics/technicians", query),
        "days": lambda: (f"/api/v1/analytics/technicians/{rng.choice(technicians)}/days", query),
        "tickets": lambda: ("/api/v1/analytics/tickets", query),
        "leaderboard": lambda: ("/api/v1/analytics/leaderboard", query),
    }


def _time_endpoints(ctx: Context, base_url: str, token: str, technicians: list[int], now) -> dict:
    rng = random.Random(7)
    repeats = ctx.params.analytics_requests
    out = {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        for label, days in RANGES.items():
            paths = _paths(technicians, now, days, rng)
            out[label] = {}
            with ctx.bar(f"analytics: {len(technicians):,} technicians, {label}", repeats * len(paths)) as bar:
                for n, endpoint in enumerate(ENDPOINTS):
                    path, query = paths[endpoint]()
                    http.get(path, params=query)  # warm: the first request of a process pays for its imports
                    timings = []
                    for i in range(repeats):
                        path, query = paths[endpoint]()
                        started = time.perf_counter()
                        response = http.get(path, params=query)
                        timings.append(time.perf_counter() - started)
                        if response.status_code != 200:
                            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
                        bar.set(n * repeats + i + 1)
                    out[label][endpoint] = summary_ms(timings)
    return out


def _plans(conn: psycopg.Connection, technician_id: int) -> dict:
    """EXPLAIN ANALYZE of each endpoint's statements for the default range, as the endpoints run them."""
    from apps.analytics import people, tickets, timeline
    from apps.analytics.ranges import requested_range
    from apps.analytics.read_models import person_params

    now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    span = requested_range(None, None, timezone="UTC", now=now)
    bounds = {**person_params(span.start, span.end), "now": now}
    statements = {
        "technicians": [(people.TECHNICIANS_SQL, bounds)],
        "days": [(timeline.steps_sql("ws.technician_id = %(technician)s"), {**bounds, "technician": technician_id})],
        "tickets": [
            (tickets.CYCLES_SQL.format(percentiles=tickets.PERCENTILES), bounds),
            (tickets.BY_STATUS_SQL, {}),
            (tickets.CREATED_PER_DAY_SQL, span.bounds_params()),
            (tickets.DECISIONS_PER_DAY_SQL, span.bounds_params()),
        ],
        "leaderboard": [(people.LEADERBOARD_SQL, {**bounds, "limit": 10})],
    }
    plans = {}
    conn.execute("SET jit = off")  # as the endpoints run them (apps/analytics/sql.py)
    for endpoint, queries in statements.items():
        plans[endpoint] = []
        for sql, params in queries:
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params).fetchall()
            plans[endpoint].append("\n".join(row[0] for row in rows))
    return plans


def _growth(stages: list[dict]) -> dict:
    small, large = stages[0], stages[-1]
    factor = large["tickets"] / small["tickets"]
    out = {}
    for label in RANGES:
        for endpoint in ENDPOINTS:
            before = small["latency"][label][endpoint]["p50_ms"]
            after = large["latency"][label][endpoint]["p50_ms"]
            out[f"{endpoint}, {label}, p50 ms"] = {
                "rows_factor": factor,
                "before": before,
                "after": after,
                "cost_factor": round(after / before, 2) if before else None,
                "shape": _shape(before, after, factor, 5),
            }
    return out


# --- the report's rows ---------------------------------------------------------------------------------------


def ceilings(result: dict | None) -> list[tuple[str, float | None, float]]:
    """(target, measured p99 ms or None, limit ms) per endpoint and range, at the largest size."""
    stage = result["stages"][-1] if result and result.get("stages") else None
    size = f"{stage['tickets']:,} tickets" if stage else "the largest size"
    return [
        (f"GET analytics/{endpoint} p99, {label}, {size}", stage and stage["latency"][label][endpoint]["p99_ms"], 200)
        for label in RANGES
        for endpoint in ENDPOINTS
    ]


def figure_rows(result: dict | None) -> list[tuple[str, str]]:
    rows = []
    for stage in (result or {}).get("stages", []):
        n = f"{stage['tickets']:,} tickets"
        transitions = stage["rows"]["work_session_transition"]
        rows.append(
            (
                f"6. {n}: rows loaded (session transitions / ticket transitions)",
                f"{transitions:,} / {stage['rows']['ticket_transition']:,} in {stage['load_seconds']} s",
            )
        )
        for label in RANGES:
            latency = stage["latency"][label]
            cells = ", ".join(
                f"{endpoint} {latency[endpoint]['p50_ms']} / {latency[endpoint]['p99_ms']}" for endpoint in ENDPOINTS
            )
            rows.append((f"6. {n}: analytics p50 / p99 ms, {label}", cells))
    return rows


def plan_lines(result: dict | None) -> list[str]:
    stage = result["stages"][-1] if result and result.get("stages") else None
    if not stage or "plans" not in stage:
        return []
    lines = ["", f"Analytics query plans at {stage['tickets']:,} tickets, default range (EXPLAIN ANALYZE):", ""]
    for endpoint, plans in stage["plans"].items():
        for plan in plans:
            lines += [f"<details><summary>{endpoint}</summary>", "", "```", plan, "```", "", "</details>", ""]
    return lines
