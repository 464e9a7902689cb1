"""Scenario 3: auto-resume punctuality and accounting.

N technicians each pause a running session, at instants spread evenly over S seconds, under a small daily pause
budget, so the N deadlines fall over S seconds too. Every pause must be resumed automatically exactly once:
lateness is the resume's `applied_at - scheduled_for` (its metadata), and the accounting error, `event_at` minus
the deadline stored at pause, must be exactly zero. Run with the ETA job and the sweep, then with the sweep alone
(the worker restarted with AUTO_RESUME_ETA=0).
"""

import time
from collections import Counter
from datetime import datetime

from bench.context import Context
from bench.data import Batch
from bench.loadgen import STOP, Client, Pacer, run_clients
from bench.stats import summary_ms

SUBMITTERS = 8


def set_pause_limit(ctx: Context, seconds: int) -> int:
    """PUT the rules with a daily pause budget of `seconds`; returns the new rules version."""
    import httpx

    response = httpx.put(
        f"{ctx.stack.base_url}/api/v1/rules",
        headers={"Authorization": f"Bearer {ctx.staff.admin_token}"},
        json={"config": {"work_session": {"daily_pause_limit_seconds": seconds}}, "reason": "benchmark"},
        timeout=30,
    )
    response.raise_for_status()
    version = response.json()["version"]
    _wait_rederived(ctx, version)
    return version


def _wait_rederived(ctx: Context, version: int, *, timeout: float = 900) -> None:
    """Until the worker has recorded the re-derivations `version` queued (every paused session's deadline, every
    open ticket's metrics): else they run beside the next phase and their CPU counts as its commands'. Cheap while
    few sessions are paused; once scenario 4 has paused 110,000, the deadlines' alone took minutes."""
    from apps.rules.models import RederivationJob, RulesRederivation

    recorded = RulesRederivation.objects.filter(rules_version__version=version)
    _wait(ctx, "rules change: re-derivations", len(RederivationJob.values), recorded.count, timeout=timeout)


def punctuality(ctx: Context, batch: Batch, *, label: str) -> dict:
    from django.db.models import Max

    from apps.commands.models import Command
    from apps.ticket.models import WorkSession, WorkSessionTransition

    ids, count = batch.ticket_ids, len(batch)
    ctx.settle()
    first_seq = Command.objects.aggregate(top=Max("seq"))["top"] or 0
    spread, limit = ctx.params.spread_seconds, ctx.params.pause_limit_seconds

    _submit_all(ctx, batch, "ticket.start")
    running = WorkSession.objects.filter(ticket_id__in=ids, status="running")
    _wait(ctx, f"{label}: sessions started", count, running.count, timeout=60)

    _submit_all(ctx, batch, "work_session.pause", pacer=Pacer(count / spread, SUBMITTERS), label=label)
    resumed = WorkSessionTransition.objects.filter(session__ticket_id__in=ids, action="resumed", actor__isnull=True)
    _wait(ctx, f"{label}: auto-resumed", count, resumed.count, timeout=spread + limit + 30)
    time.sleep(1)  # a duplicate resume, if the pipeline made one, would land now

    deadlines = {
        session_id: datetime.fromisoformat(metadata["auto_resume_at"])
        for session_id, metadata in WorkSessionTransition.objects.filter(
            session__ticket_id__in=ids, action="paused"
        ).values_list("session_id", "metadata")
    }
    resumes = list(resumed.values_list("session_id", "event_at", "metadata"))
    lateness = [
        (datetime.fromisoformat(m["applied_at"]) - datetime.fromisoformat(m["scheduled_for"])).total_seconds()
        for _, _, m in resumes
    ]
    errors_us = [round((event_at - deadlines[sid]).total_seconds() * 1e6) for sid, event_at, _ in resumes]
    commands = Counter(
        Command.objects.filter(seq__gt=first_seq, ticket_id__in=ids).values_list("type", "status").order_by()
    )
    duplicates = sum(n - 1 for n in Counter(sid for sid, _, _ in resumes).values() if n > 1)

    problems = []
    if len(deadlines) != count:
        problems.append(f"{label}: {len(deadlines)} of {count} sessions were paused")
    if len(resumes) - duplicates != count:
        problems.append(f"{label}: {len(resumes) - duplicates} of {count} pauses were auto-resumed")
    if duplicates:
        problems.append(f"{label}: {duplicates} pauses were resumed more than once")
    if any(errors_us):
        problems.append(f"{label}: {sum(1 for e in errors_us if e)} resumes not recorded at their deadline")
    refused = {f"{t} {s}": n for (t, s), n in commands.items() if s != "succeeded"}
    if refused:
        problems.append(f"{label}: commands not succeeded: {refused}")
    return {
        "sessions": count,
        "spread_seconds": spread,
        "pause_limit_seconds": limit,
        "resumed": len(resumes),
        "lateness": summary_ms(lateness),
        "accounting_error_us": {
            "max_abs": max((abs(e) for e in errors_us), default=None),
            "nonzero": sum(map(bool, errors_us)),
        },
        "commands": {f"{t} {s}": n for (t, s), n in sorted(commands.items())},
        "problems": problems,
    }


def _submit_all(ctx: Context, batch: Batch, command_type: str, *, pacer: Pacer | None = None, label: str = "") -> None:
    """POST `command_type` for every ticket of the batch from SUBMITTERS clients (paced, if a pacer is given)."""
    submitters = min(SUBMITTERS, len(batch))
    sent = [0] * submitters

    def work(client: Client) -> None:
        for index in range(client.index, len(batch), submitters):
            if STOP.is_set():
                return
            if pacer is not None:
                pacer.wait(client.index, sent[client.index])
            response = client.request(
                "POST",
                "/api/v1/commands",
                token=batch.tokens[index],
                json={"type": command_type, "ticket_id": batch.ticket_ids[index]},
            )
            if response.status_code != 202:
                raise RuntimeError(f"{command_type} answered {response.status_code}: {response.text[:300]}")
            sent[client.index] += 1

    if pacer is None:
        run_clients(ctx.stack.base_url, submitters, work)
        return
    with ctx.bar(f"{label}: pausing", len(batch)) as bar:
        run_clients(ctx.stack.base_url, submitters, work, on_tick=lambda: bar.set(sum(sent)))


def _wait(ctx: Context, description: str, count: int, measure, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with ctx.bar(description, count) as bar:
        while (done := measure()) < count:
            bar.set(done)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{description}: {done} of {count} after {timeout:.0f} s")
            if STOP.is_set():
                raise KeyboardInterrupt
            time.sleep(0.2)
        bar.set(done)
