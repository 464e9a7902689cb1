"""Scenario 9: the waiting lifecycle, a chat bot's shape (issue 17).

K tickets, C clients, one technician per client: each client drives its technician's tickets one after another
through start → pause → resume → stop → waiting QC → QC pass, every command POSTed with `Prefer: wait=30`, so each
POST answers with the applied outcome. A wait the server declines (its threads for waiting all taken: the answer
is 202 at once) is followed by polling the command until it is final, as a bot would; the latency counted is then
submit → final outcome all the same, and the declines are reported. Each client's QC pass goes with a QC inspector
of its own: a token may hold only COMMAND_MAX_WAITS_PER_TOKEN waits at once.

Beside it, the same shape fire and forget (no `Prefer: wait`; the accept latency is the POST's round trip), driven
by scenario 1's code. Its tickets have a technician each: without waiting, a client's next ticket's start could be
applied before its previous ticket's stop, and a technician has at most one open session.
"""

import time
from collections import Counter
from dataclasses import replace

from django.db import connection, transaction
from django.db.models import Max

from bench.context import Context
from bench.data import Batch, analyze
from bench.loadgen import RETRY_503_BACKOFF, STOP, Client, run_clients
from bench.scenarios.throughput import STEPS, drive
from bench.stats import summary_ms

WAIT_SECONDS = 30
POLL_SECONDS = 0.05  # after a declined wait, how often the client reads the command again
TARGET_OPS_PER_S = 110
TARGET_P99_MS = 250


def run(ctx: Context, *, tickets: int, clients: int) -> dict:
    waiting = ctx.builder.assigned_tickets("lifecycle-wait", tickets, ctx.staff)
    fire = ctx.builder.assigned_tickets("lifecycle-fire", tickets, ctx.staff)
    _one_technician_per_client(waiting, clients)
    inspectors = _qc_inspectors(ctx, clients)
    analyze()
    waited = drive_waiting(ctx, waiting, clients=clients, inspectors=inspectors)
    fired = drive(replace(ctx, params=ctx.params.with_overrides(clients=clients)), fire, label="lifecycle, no wait")
    return {
        "tickets": tickets,
        "clients": clients,
        "waiting": waited,
        "fire_and_forget": {
            key: fired[key]
            for key in ("commands", "accepted_per_s", "applied_per_s", "accept_latency", "submit_to_finished")
        },
        "problems": waited["problems"] + fired["problems"],
    }


def drive_waiting(ctx: Context, batch: Batch, *, clients: int, inspectors: list[str]) -> dict:
    from apps.commands.models import Command

    ctx.settle()
    first_seq = Command.objects.aggregate(top=Max("seq"))["top"] or 0
    owned = [range(i, len(batch), clients) for i in range(clients)]
    latencies: list[float] = []
    answers: Counter = Counter()
    declined = [0]
    done = [0]

    def work(client: Client) -> None:
        technician_token, inspector_token = batch.tokens[client.index], inspectors[client.index]
        for index in owned[client.index]:
            for command_type, who in STEPS:
                if STOP.is_set():
                    return
                started = time.perf_counter()
                token = inspector_token if who == "qc" else technician_token
                response = _post_waiting(client, token, {"type": command_type, "ticket_id": batch.ticket_ids[index]})
                answers[str(response.status_code)] += 1
                if response.status_code == 202:
                    declined[0] += 1
                    _poll_until_final(client, response.json()["id"], token)
                latencies.append(time.perf_counter() - started)
                done[0] += 1

    total = len(batch) * len(STEPS)
    cpu_before = ctx.stack.cpu_snapshot()
    with ctx.bar("lifecycle, Prefer: wait", total) as bar:
        started = time.perf_counter()
        run_clients(ctx.stack.base_url, clients, work, on_tick=lambda: bar.set(done[0]), timeout=WAIT_SECONDS + 10)
        wall = time.perf_counter() - started
    cpu = ctx.stack.cpu_used(cpu_before, ctx.stack.cpu_snapshot())

    batch_commands = Command.objects.filter(seq__gt=first_seq, ticket_id__in=batch.ticket_ids)
    statuses = Counter(batch_commands.values_list("status", flat=True))
    problems = []
    if statuses.get("succeeded", 0) != total or sum(statuses.values()) != total:
        problems.append(f"lifecycle, Prefer: wait: expected {total} succeeded commands, found {dict(statuses)}")
    unexpected = {code: n for code, n in answers.items() if code not in ("200", "202")}
    if unexpected:
        problems.append(f"lifecycle, Prefer: wait: answers other than 200/202: {unexpected}")
    return {
        "commands": total,
        "wait_seconds": WAIT_SECONDS,
        "ops_per_s": round(len(latencies) / wall, 1) if wall else None,
        "latency": summary_ms(latencies),  # submit → outcome in hand, per command
        "http_statuses": dict(answers),
        "declined_waits": declined[0],
        "command_statuses": dict(statuses),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": cpu,
        "cpu_ms_per_command": {name: round(seconds * 1000 / total, 1) for name, seconds in cpu.items()},
        "problems": problems,
    }


def _post_waiting(client: Client, token: str, body: dict):
    """POST a command with `Prefer: wait`; a 503 is retried after a short backoff, as `Client.request` does."""
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"wait={WAIT_SECONDS}"}
    for backoff in (*RETRY_503_BACKOFF, None):
        response = client.http.post("/api/v1/commands", json=body, headers=headers)
        if response.status_code != 503 or backoff is None or STOP.is_set():
            return response
        time.sleep(backoff)
    return response


def _poll_until_final(client: Client, command_id: str, token: str) -> None:
    deadline = time.perf_counter() + WAIT_SECONDS
    while time.perf_counter() < deadline and not STOP.is_set():
        response = client.request("GET", f"/api/v1/commands/{command_id}", token=token)
        if response.status_code == 200 and response.json()["status"] != "pending":
            return
        time.sleep(POLL_SECONDS)


def _one_technician_per_client(batch: Batch, clients: int) -> None:
    """Give ticket i to the technician of ticket i mod `clients` (the client that drives it uses that token)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE ticket AS t SET technician_id = owner.technician_id
            FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS mine (id, n)
            JOIN unnest(%(ids)s::bigint[]) WITH ORDINALITY AS first (id, n) ON first.n = (mine.n - 1) %% %(c)s + 1
            JOIN ticket AS owner ON owner.id = first.id
            WHERE t.id = mine.id
            """,
            {"ids": batch.ticket_ids, "c": clients},
        )


def _qc_inspectors(ctx: Context, count: int) -> list[str]:
    """`count` QC inspectors with a token each (raw values known to the harness, SHA-256 stored)."""
    from apps.common.time import utc_now
    from tests.support.bulk import user_insert

    tokens = [ctx.builder.token("lifecycle-qc", n) for n in range(1, count + 1)]
    statement, defaults = user_insert(
        username="'bench-lifecycle-qc-' || g",
        roles="ARRAY['qc_inspector']::varchar(20)[]",
        source="FROM generate_series(1, %(count)s) AS g",
    )
    params = {"count": count, "at": utc_now(), "prefix": ctx.builder.token("lifecycle-qc", ""), **defaults}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        cursor.execute(
            """
            INSERT INTO accounts_apitoken (token_hash, hint, created_at, revoked_at, user_id)
            SELECT encode(sha256(convert_to(%(prefix)s || g, 'UTF8')), 'hex'), left(%(prefix)s || g, 10), %(at)s,
                   NULL, u.id
            FROM generate_series(1, %(count)s) AS g
            JOIN accounts_user AS u ON u.username = 'bench-lifecycle-qc-' || g
            """,
            params,
        )
    return tokens


# --- report rows ---------------------------------------------------------------------------------------------


def figure_rows(result: dict | None) -> list[tuple[str, object]]:
    if not result:
        return [("9. waiting lifecycle: ops/s, latency p50 / p99 ms", None)]
    w, f = result["waiting"], result["fire_and_forget"]
    shape = f"{result['tickets']} tickets, {result['clients']} clients"
    per_command = w.get("cpu_ms_per_command") or {}
    return [
        (f"9. waiting lifecycle ({shape}), Prefer: wait: ops/s", w["ops_per_s"]),
        ("9. waiting lifecycle, Prefer: wait: latency p50 / p99 / max ms", _triple(w["latency"])),
        ("9. waiting lifecycle, Prefer: wait: declined waits (then polled)", w["declined_waits"]),
        (
            "9. waiting lifecycle, Prefer: wait: CPU ms per command (web / worker / PostgreSQL)",
            " / ".join(str(per_command.get(name, "-")) for name in ("web", "worker", "postgres")),
        ),
        ("9. lifecycle fire and forget: accepted / applied ops/s", f"{f['accepted_per_s']} / {f['applied_per_s']}"),
        ("9. lifecycle fire and forget: accept latency p50 / p99 ms", _pair(f["accept_latency"])),
    ]


def target_rows(result: dict | None) -> list[tuple]:
    """(name, limit, measured, met, ratio) rows for the report's targets table."""
    name, limit = "waiting lifecycle (Prefer: wait)", f"≥ {TARGET_OPS_PER_S} ops/s, p99 ≤ {TARGET_P99_MS} ms"
    if not result or not result["waiting"]["latency"]["n"]:
        return [(name, limit, "-", None, None)]
    w = result["waiting"]
    ops, p99 = w["ops_per_s"], w["latency"]["p99_ms"]
    met = ops >= TARGET_OPS_PER_S and p99 <= TARGET_P99_MS
    return [(name, limit, f"{ops} ops/s, p99 {p99} ms", met, round(ops / TARGET_OPS_PER_S, 2))]


def _pair(summary: dict | None) -> str | None:
    return f"{summary['p50_ms']} / {summary['p99_ms']}" if summary and summary.get("n") else None


def _triple(summary: dict | None) -> str | None:
    return f"{summary['p50_ms']} / {summary['p99_ms']} / {summary['max_ms']}" if summary and summary.get("n") else None
