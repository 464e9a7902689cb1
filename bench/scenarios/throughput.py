"""Scenario 1: throughput and latency of the command pipeline.

K tickets, each driven through start → pause → resume → stop → waiting QC → QC pass by the one of C clients that
owns it, submitting without waiting for outcomes (a ticket's commands in order). Accept latency is the POST's round
trip; submit→finished is `finished_at - submitted_at` of the Command rows; the applied rate is the batch's command
count over (last `finished_at` - first `submitted_at`). Run at full speed, then paced at half the peak accept rate.
"""

import time
from collections import Counter
from datetime import datetime, timedelta

from django.db.models import Max

from bench.context import Context, wait_until_applied
from bench.data import Batch
from bench.loadgen import STOP, Client, Pacer, run_clients
from bench.stats import summary_ms

STEPS = (
    ("ticket.start", "technician"),
    ("work_session.pause", "technician"),
    ("work_session.resume", "technician"),
    ("work_session.stop", "technician"),
    ("ticket.to_waiting_qc", "technician"),
    ("ticket.qc_pass", "qc"),
)


def drive(ctx: Context, batch: Batch, *, label: str, rate: float | None = None) -> dict:
    from apps.commands.models import Command

    clients = ctx.params.clients
    settled = ctx.settle()
    first_seq = Command.objects.aggregate(top=Max("seq"))["top"] or 0
    owned = [range(i, len(batch), clients) for i in range(clients)]
    pacer = Pacer(rate, clients) if rate else None
    sent = [0] * clients

    def work(client: Client) -> None:
        for index in owned[client.index]:
            for command_type, who in STEPS:
                if STOP.is_set():
                    return
                if pacer is not None:
                    pacer.wait(client.index, sent[client.index])
                client.request(
                    "POST",
                    "/api/v1/commands",
                    token=ctx.staff.qc_token if who == "qc" else batch.tokens[index],
                    json={"type": command_type, "ticket_id": batch.ticket_ids[index]},
                )
                sent[client.index] += 1

    total = len(batch) * len(STEPS)
    batch_commands = Command.objects.filter(seq__gt=first_seq, ticket_id__in=batch.ticket_ids)
    started = time.perf_counter()
    cpu_started, cpu_before = time.process_time(), ctx.stack.cpu_snapshot()
    with ctx.bar(f"{label}: submitted", total) as submitted, ctx.bar(f"{label}: finished", total) as finished:
        last_poll = [0.0]

        def tick() -> None:
            submitted.set(sum(sent))
            if time.perf_counter() - last_poll[0] > 0.5:
                finished.set(batch_commands.exclude(status="pending").count())
                last_poll[0] = time.perf_counter()

        samples = run_clients(ctx.stack.base_url, clients, work, on_tick=tick)
        client_cpu = time.process_time() - cpu_started
        wait_until_applied(batch_commands, total, finished, poll_seconds=0.2)
    wall = time.perf_counter() - started
    cpu = {**ctx.stack.cpu_used(cpu_before, ctx.stack.cpu_snapshot()), "harness": round(client_cpu, 1)}

    rows = list(batch_commands.values_list("status", "submitted_at", "finished_at"))
    statuses = Counter(status for status, _, _ in rows)
    finals = [(s, f) for _, s, f in rows if f is not None]
    http = Counter(str(sample.status) for sample in samples)
    accepted = [sample for sample in samples if sample.status == 202]
    accept_window = max(s.sent + s.seconds for s in accepted) - min(s.sent for s in accepted) if accepted else 0
    applied_window = (max(f for _, f in finals) - min(s for s, _ in finals)).total_seconds() if finals else 0

    event_time = event_time_check(batch_commands)
    problems = []
    if event_time["mismatched"]:
        problems.append(f"{label}: {event_time['mismatched']} session commands recorded away from their effective_at")
    if http.get("202", 0) != total:
        problems.append(f"{label}: {total - http.get('202', 0)} POSTs were not answered 202 ({dict(http)})")
    if len(rows) != total or statuses.get("succeeded", 0) != total:
        problems.append(f"{label}: expected {total} succeeded commands, found {dict(statuses)}")
    return {
        "tickets": len(batch),
        "clients": clients,
        "target_rate_per_s": round(rate, 1) if rate else None,
        "commands": total,
        "http_statuses": dict(http),
        "command_statuses": dict(statuses),
        "accepted_per_s": round(len(accepted) / accept_window, 1) if accept_window else None,
        "applied_per_s": round(len(finals) / applied_window, 1) if applied_window else None,
        "applied_window_seconds": round(applied_window, 2),  # the first submission to the last finish
        "accept_latency": summary_ms(s.seconds for s in accepted),
        "submit_to_finished": summary_ms((f - s).total_seconds() for s, f in finals),
        "wall_seconds": round(wall, 2),
        "waited_for_idle_queues_seconds": settled,
        "cpu_seconds": cpu,  # web and worker trees, this run's PostgreSQL backends, the harness's clients
        "cpu_ms_per_command": {name: round(seconds * 1000 / total, 1) for name, seconds in cpu.items()},
        "event_time": event_time,
        "problems": problems,
    }


SESSION_COMMANDS = ("ticket.start", "work_session.pause", "work_session.resume", "work_session.stop")


def event_time_check(commands) -> dict:
    """Over every applied session command: the instant its history row records minus its `effective_at` (must be
    exactly 0), and how many were clamped (`effective_at` after `occurred_at`: the ticket's history was later)."""
    rows = commands.filter(status="succeeded", type__in=SESSION_COMMANDS).values_list(
        "result", "occurred_at", "effective_at"
    )
    offsets_us, clamped = [], 0
    for result, occurred_at, effective_at in rows:
        recorded = datetime.fromisoformat(result["work_session"]["transitions"][-1]["event_at"])
        offsets_us.append((recorded - effective_at) // timedelta(microseconds=1))
        clamped += effective_at != occurred_at
    return {
        "session_commands": len(offsets_us),
        "recorded_minus_effective_max_abs_us": max((abs(o) for o in offsets_us), default=None),
        "mismatched": sum(1 for o in offsets_us if o != 0),
        "clamped": clamped,
    }
