"""Scenario 10: scaling the worker out (issue 17). Applied commands/s with one worker process (`-c 1`) pinned to
one core (`taskset -c 0`) against two such processes pinned to separate cores (`taskset -c 0`, `taskset -c 1`), in
the same run.

For each: with no worker running, K tickets' lives (start → ... → QC pass) are submitted fire and forget, so a
backlog waits; then the pinned workers start and apply it. The applied rate is taken between the 10th and the 90th
percentile of the commands' `finished_at` (a worker's start-up and the last lanes' tail left out). Web, PostgreSQL
and Redis are not pinned: on a two-core machine they share the cores with the workers, as they would in production
on one host; the figure says what a second worker process buys there, not what a second host would.
"""

import os
from collections import Counter

from django.db.models import Max

from bench.context import Context, wait_until_applied
from bench.data import Batch, analyze
from bench.loadgen import STOP, Client, run_clients
from bench.scenarios.throughput import STEPS
from bench.stack import cpu_seconds

CLIENTS = 16


def run(ctx: Context, *, tickets: int) -> dict:
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        return {"tickets": tickets, "skipped": f"only {len(cores)} core available", "problems": []}
    one = ctx.builder.assigned_tickets("scaleout-one", tickets, ctx.staff)
    two = ctx.builder.assigned_tickets("scaleout-two", tickets, ctx.staff)
    analyze()
    ctx.settle()
    ctx.stack.stop("worker")
    try:
        single = applied_rate(ctx, one, cpus=tuple(cores[:1]))
        pair = applied_rate(ctx, two, cpus=tuple(cores))
    finally:
        ctx.stack.start_worker()  # the run's usual worker, for the scenarios after this one
    speedup = (
        round(pair["applied_per_s"] / single["applied_per_s"], 2)
        if single["applied_per_s"] and pair["applied_per_s"]
        else None
    )
    return {
        "tickets": tickets,
        "one_worker": single,
        "two_workers": pair,
        "speedup": speedup,
        "problems": single["problems"] + pair["problems"],
    }


def applied_rate(ctx: Context, batch: Batch, *, cpus: tuple[int, ...]) -> dict:
    from apps.commands.models import Command

    label = f"scale-out, {len(cpus)} worker{'s' if len(cpus) > 1 else ''}"
    first_seq = Command.objects.aggregate(top=Max("seq"))["top"] or 0
    owned = [range(i, len(batch), CLIENTS) for i in range(CLIENTS)]

    def work(client: Client) -> None:
        for index in owned[client.index]:
            for command_type, who in STEPS:
                if STOP.is_set():
                    return
                client.request(
                    "POST",
                    "/api/v1/commands",
                    token=ctx.staff.qc_token if who == "qc" else batch.tokens[index],
                    json={"type": command_type, "ticket_id": batch.ticket_ids[index]},
                )

    total = len(batch) * len(STEPS)
    with ctx.bar(f"{label}: backlog", total):
        run_clients(ctx.stack.base_url, CLIENTS, work)
    commands = Command.objects.filter(seq__gt=first_seq, ticket_id__in=batch.ticket_ids)
    names = [f"pinned-{cpu}" for cpu in cpus]
    try:
        for name, cpu in zip(names, cpus, strict=True):
            ctx.stack.start_pinned_worker(name, cpu=cpu)
        cpu_before = _pinned_cpu(ctx, names)
        with ctx.bar(f"{label}: applied", total) as bar:
            wait_until_applied(commands, total, bar, poll_seconds=0.5)
        cpu_after = _pinned_cpu(ctx, names)
        worker_cpu = round(sum(seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu_after.items()), 1)
    finally:
        for name in names:
            ctx.stack.stop(name)

    finished = sorted(commands.exclude(finished_at=None).values_list("finished_at", flat=True))
    statuses = Counter(commands.values_list("status", flat=True))
    problems = []
    if statuses.get("succeeded", 0) != total or sum(statuses.values()) != total:
        problems.append(f"{label}: expected {total} succeeded commands, found {dict(statuses)}")
    rate = None
    if len(finished) >= 10:
        low, high = finished[len(finished) // 10], finished[len(finished) * 9 // 10]
        window = (high - low).total_seconds()
        rate = round((len(finished) * 9 // 10 - len(finished) // 10) / window, 1) if window else None
    return {
        "commands": total,
        "worker_processes": len(cpus),
        "cpus": list(cpus),
        "applied_per_s": rate,
        "command_statuses": dict(statuses),
        "worker_cpu_seconds": worker_cpu,  # the pinned workers' trees, from their start-up on
        "worker_cpu_ms_per_command": round(worker_cpu * 1000 / total, 1),
        "problems": problems,
    }


def figure_rows(result: dict | None) -> list[tuple[str, object]]:
    if not result or result.get("skipped"):
        return [("10. scale-out: applied commands/s, one worker process / two (pinned)", (result or {}).get("skipped"))]
    one, two = result["one_worker"], result["two_workers"]
    return [
        (
            f"10. scale-out ({result['tickets']} tickets each): applied commands/s, one worker process (core 0) / "
            "two (cores 0 and 1), speed-up",
            f"{one['applied_per_s']} / {two['applied_per_s']}, {result['speedup']}x",
        ),
    ]


def _pinned_cpu(ctx: Context, names: list[str]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for name in names for pid in ctx.stack.children[name].members()}
