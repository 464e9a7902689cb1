"""The run's figures: the console tables, the JSON results file, and BENCHMARKS.md's generated section."""

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.scenarios import analytics, feed, lifecycle, scale_out, webhooks

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


# --- the machine -----------------------------------------------------------------------------------------------


def describe_machine() -> dict:
    from django.db import connection

    from apps.common.redis_client import redis_client

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('autovacuum')")
        postgres, autovacuum = cursor.fetchone()
    return {
        "nproc": _output(["nproc"]),
        "free_h": _output(["free", "-h"]),
        "uname_a": _output(["uname", "-a"]),
        "python": platform.python_version(),
        "postgres": postgres,
        # off on this machine: the harness then vacuums and analyzes between phases (bench.data.stand_in_for_autovacuum)
        "postgres_autovacuum": autovacuum,
        "redis": redis_client().info("server").get("redis_version", "?"),
        "git_commit": _output(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_output(["git", "status", "--porcelain", "--untracked-files=no"])),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.rstrip()
    except OSError:
        return "?"


# --- targets ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    limit: str
    measured: str
    met: bool | None  # None: not measured (the scenario errored or was skipped)
    ratio: float | None  # measured ÷ limit: ≤ 1 meets a ceiling, ≥ 1 meets a floor

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "not measured"
        word = "met" if self.met else "MISSED"
        return f"{word} ({self.ratio:.2f}x)" if self.ratio is not None else word


def targets(results: dict) -> list[Target]:
    s = results["scenarios"]
    sweep_interval = results["settings"]["sweep_interval_seconds"]
    out = []

    peak, noop = s.get("throughput_peak"), s.get("baseline_celery_noop")
    if peak and noop and peak.get("applied_per_s"):
        share = peak["applied_per_s"] / noop["tasks_per_s"]
        out.append(
            Target(
                "applied commands/s vs Celery no-op tasks/s",
                "≥ 0.5 x no-op",
                f"{peak['applied_per_s']:.0f}/s = {share:.2f} x {noop['tasks_per_s']:.0f}/s",
                share >= 0.5,
                share / 0.5,
            )
        )
    else:
        out.append(Target("applied commands/s vs Celery no-op tasks/s", "≥ 0.5 x no-op", "-", None, None))

    # "Half the peak rate" read both ways: half the peak *accept* rate can still exceed what the workers apply (a
    # backlog then grows and latency with it); half the peak *applied* rate is half of what the system sustains.
    for key, rate in (("throughput_half", "accept"), ("throughput_steady", "applied")):
        half = s.get(key)
        label = f"at half the peak {rate} rate"
        out.append(_ceiling(f"accept p99 {label}", half and half["accept_latency"]["p99_ms"], 30, "ms"))
        finished = half and half["submit_to_finished"]["p99_ms"]
        out.append(_ceiling(f"submit→finished p99 {label}", finished, 150, "ms"))

    checked = [
        s[key]["event_time"]
        for key in ("throughput_peak", "throughput_half", "throughput_steady")
        if s.get(key) and s[key].get("event_time")
    ]
    if checked:
        worst = max(c["recorded_minus_effective_max_abs_us"] or 0 for c in checked)
        counted = sum(c["session_commands"] for c in checked)
        out.append(
            Target(
                "session commands recorded at effective_at", "exactly 0", f"{worst} µs over {counted}", worst == 0, None
            )
        )
    else:
        out.append(Target("session commands recorded at effective_at", "exactly 0", "-", None, None))

    eta, sweep = s.get("auto_resume_eta"), s.get("auto_resume_sweep_only")
    out.append(_ceiling("auto-resume lateness p99, ETA + sweep", eta and eta["lateness"]["p99_ms"], 500, "ms"))
    limit = sweep_interval * 1000 + 500
    out.append(_ceiling("auto-resume lateness p99, sweep only", sweep and sweep["lateness"]["p99_ms"], limit, "ms"))
    if eta and sweep:
        worst = max(eta["accounting_error_us"]["max_abs"] or 0, sweep["accounting_error_us"]["max_abs"] or 0)
        out.append(Target("auto-resume accounting error", "exactly 0", f"{worst} µs", worst == 0, None))
    else:
        out.append(Target("auto-resume accounting error", "exactly 0", "-", None, None))

    scale = s.get("scale")
    stage = scale["stages"][-1] if scale and scale["stages"] else None
    rows = f"{stage['rows']:,}" if stage else "the largest size"
    out.append(_ceiling(f"sweep query p50, 0 due, {rows} paused", stage and stage["sweep_0_due"]["p50_ms"], 5, "ms"))
    out.append(_ceiling(f"recompute of {rows} tickets", stage and stage["recompute"]["seconds"], 5, "s"))
    if scale and scale.get("growth"):
        shapes = {name: g["shape"] for name, g in scale["growth"].items()}
        ok = all(shape in ("flat", "linear") for shape in shapes.values())
        measured = ", ".join(
            f"{name} {g['shape']} ({g['before']} -> {g['after']}, {g['cost_factor']}x)"
            for name, g in scale["growth"].items()
        )
        out.append(Target("growth from the smallest to the largest size", "flat or linear", measured, ok, None))
    else:
        out.append(Target("growth from the smallest to the largest size", "flat or linear", "-", None, None))

    out += [_ceiling(name, value, limit, "ms") for name, value, limit in analytics.ceilings(s.get("analytics"))]
    growth = (s.get("analytics") or {}).get("growth")
    shapes = {name: g["shape"] for name, g in (growth or {}).items()}
    measured = ", ".join(f"{name} {shape}" for name, shape in shapes.items()) or "-"
    met = all(shape in ("flat", "linear") for shape in shapes.values()) if shapes else None
    out.append(Target("analytics growth, 10x the tickets", "flat or linear", measured, met, None))

    out += [Target(*row) for row in webhooks.target_rows(s.get("webhook_cost"), s.get("webhook_delivery"))]
    out += [Target(*row) for row in feed.target_rows(s.get("feed"))]
    out += [Target(*row) for row in lifecycle.target_rows(s.get("lifecycle"))]
    return out


def _ceiling(name: str, value: float | None, limit: float, unit: str) -> Target:
    if value is None:
        return Target(name, f"≤ {limit:g} {unit}", "-", None, None)
    return Target(name, f"≤ {limit:g} {unit}", f"{value:g} {unit}", value <= limit, value / limit)


# --- figures ---------------------------------------------------------------------------------------------------


def figures(results: dict) -> list[tuple[str, str]]:
    """(what, value) rows, in scenario order; a missing scenario shows as '-'."""
    s = results["scenarios"]
    rows: list[tuple[str, str]] = []

    def add(label: str, value) -> None:
        rows.append((label, "-" if value in (None, "") else str(value)))

    phases = (
        ("throughput_peak", "peak"),
        ("throughput_half", "half the peak accept rate"),
        ("throughput_steady", "half the peak applied rate"),
    )
    for key, title in phases:
        t = s.get(key) or {}
        rate = f" (paced at {t['target_rate_per_s']}/s)" if t.get("target_rate_per_s") else ""
        add(f"1. {title}{rate}: accepted commands/s", t.get("accepted_per_s"))
        add(f"1. {title}: applied commands/s", t.get("applied_per_s"))
        add(f"1. {title}: accept latency p50 / p99 ms", _pair(t.get("accept_latency")))
        add(f"1. {title}: submit→finished p50 / p99 / max ms", _triple(t.get("submit_to_finished")))
        per_command = t.get("cpu_ms_per_command")
        if per_command:
            add(
                f"1. {title}: CPU ms per command (web / worker / PostgreSQL / clients)",
                " / ".join(str(per_command.get(name, "-")) for name in ("web", "worker", "postgres", "harness")),
            )
        event_time = t.get("event_time")
        if event_time:
            add(
                f"1. {title}: session commands, recorded minus effective_at max µs / clamped",
                f"{event_time['session_commands']}: {event_time['recorded_minus_effective_max_abs_us']} / "
                f"{event_time['clamped']}",
            )
        other = {code: n for code, n in (t.get("http_statuses") or {}).items() if code != "202"}
        if other:
            add(f"1. {title}: other HTTP answers (503s were retried)", ", ".join(f"{n}x {c}" for c, n in other.items()))
    noop, health, pg = (
        s.get("baseline_celery_noop") or {},
        s.get("baseline_healthz") or {},
        s.get("baseline_pgbench") or {},
    )
    add("2a. Celery no-op tasks/s", noop.get("tasks_per_s"))
    add("2b. GET /healthz requests/s", health.get("requests_per_s"))
    add("2b. GET /healthz latency p50 / p99 ms", _pair(health.get("latency")))
    add("2c. pgbench select-only TPS", pg.get("select_only_tps") or pg.get("skipped"))
    add("2c. pgbench TPC-B-like TPS", pg.get("tpcb_like_tps") or pg.get("skipped"))
    peak = s.get("throughput_peak") or {}
    if peak.get("applied_per_s") and noop.get("tasks_per_s"):
        add("applied commands/s ÷ no-op tasks/s", f"{peak['applied_per_s'] / noop['tasks_per_s']:.2f}")
    if peak.get("accepted_per_s") and health.get("requests_per_s"):
        add("accepted commands/s ÷ /healthz requests/s", f"{peak['accepted_per_s'] / health['requests_per_s']:.2f}")
    for key, title in (("auto_resume_eta", "ETA + sweep"), ("auto_resume_sweep_only", "sweep only")):
        a = s.get(key) or {}
        add(f"3. {title}: sessions resumed", f"{a['resumed']} of {a['sessions']}" if a else None)
        add(f"3. {title}: lateness p50 / p99 / max ms", _triple(a.get("lateness")))
        add(f"3. {title}: accounting error max µs", a["accounting_error_us"]["max_abs"] if a else None)
    for stage in (s.get("scale") or {}).get("stages", []):
        n = f"{stage['rows']:,}"
        for key, due in (("sweep_0_due", "0 due"), ("sweep_1000_due", "1,000 due (500-row batch)")):
            q = stage[key]
            add(f"4. {n}: sweep query, {due}, p50 / p99 ms (PostgreSQL alone)", f"{_pair(q)} ({q['server_ms']})")
        add(f"4. {n}: recompute s ({stage['recompute']['changed']:,} changed)", stage["recompute"]["seconds"])
        add(f"4. {n}: GET /api/v1/tickets p50 / p99 ms", _pair(stage["list_tickets"]))
    for label, value in analytics.figure_rows(s.get("analytics")):
        add(label, value)
    statements = s.get("webhook_statements")
    for label, value in webhooks.figure_rows(s.get("webhook_cost"), statements, s.get("webhook_delivery")):
        add(label, value)
    for label, value in feed.figure_rows(s.get("feed")):
        add(label, value)
    for label, value in lifecycle.figure_rows(s.get("lifecycle")):
        add(label, value)
    for label, value in scale_out.figure_rows(s.get("scale_out")):
        add(label, value)
    for name, m in (s.get("memory") or {}).items():
        add(
            f"5. {name}: peak RSS MiB, sampled sum over {m['processes']} processes / sum of their VmHWM",
            f"{m['peak_rss_sum_mib']} / {m['vmhwm_sum_mib']}",
        )
    return rows


def _pair(summary: dict | None) -> str | None:
    return f"{summary['p50_ms']} / {summary['p99_ms']}" if summary and summary.get("n") else None


def _triple(summary: dict | None) -> str | None:
    return f"{summary['p50_ms']} / {summary['p99_ms']} / {summary['max_ms']}" if summary and summary.get("n") else None


def print_tables(console: Console, results: dict) -> None:
    table = Table(title="ticketflow benchmarks" + (" (smoke)" if results["smoke"] else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in figures(results):
        table.add_row(label, value)
    console.print(table)
    goals = Table(title="targets")
    for column in ("target", "limit", "measured", "verdict"):
        goals.add_column(column)
    for t in targets(results):
        colour = "green" if t.met else "red" if t.met is False else "yellow"
        goals.add_row(t.name, t.limit, t.measured, f"[{colour}]{t.verdict}[/{colour}]")
    console.print(goals)


def write_json(results: dict, directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


# --- BENCHMARKS.md ------------------------------------------------------------------------------------------------


def write_benchmarks_md(results: dict, path: Path, results_file: str) -> None:
    """Rewrite the generated section between the markers; the hand-written notes around it stay."""
    generated = "\n".join([BEGIN, render(results, results_file), END])
    if path.exists() and BEGIN in path.read_text():
        before, rest = path.read_text().split(BEGIN, 1)
        after = rest.split(END, 1)[1] if END in rest else ""
        text = before + generated + after
    else:
        text = f"# Benchmarks\n\n{generated}\n"
    path.write_text(text)


def render(results: dict, results_file: str) -> str:
    m, p, st = results["machine"], results["params"], results["settings"]
    lines = [
        f"Latest run: {results['started_at']} (UTC), commit `{m['git_commit']}`"
        + (" with uncommitted changes" if m["git_dirty"] else "")
        + f", {results['duration_seconds']:.0f} s. Raw figures: `{results_file}`.",
        "",
        f"Command: `{results['make_command']}` (runs `{results['command']}`).",
        "",
        "### Machine",
        "",
        f"- `nproc`: {m['nproc']}; load average at start {results['load_average']['start']}, "
        f"at end {results['load_average']['end']} (the machine is shared: other test suites ran meanwhile)",
        f"- `uname -a`: `{m['uname_a']}`",
        f"- Python {m['python']}; {m['postgres'].split(' on ')[0]}; Redis {m['redis']}",
        "- `free -h`:",
        "",
        "```",
        m["free_h"],
        "```",
        "",
        "### Settings",
        "",
        f"- web: gunicorn gthread, {st['web_workers']} workers x {st['web_threads']} threads (the Procfile's flags, "
        "access log on), `DJANGO_DEBUG=0`, `COMMAND_RATE_LIMIT_PER_MINUTE=0`",
        f"- one Celery worker, prefork `-c {st['worker_concurrency']}`, `-E`, consuming the commands, timers, "
        "maintenance and webhooks queues; beat with the DatabaseScheduler "
        f"(auto-resume sweep every {st['sweep_interval_seconds']} s)",
        f"- PostgreSQL 127.0.0.1 (database `{st['db_name']}`, created and dropped by the run); Redis db "
        f"{st['redis_db']}, queues and keys named after the run",
        f"- scenario 1: K = {p['tickets']} tickets x 6 commands, C = {p['clients']} clients (threads, httpx); "
        f"scenario 3: N = {p['sessions']} sessions over {p['spread_seconds']:g} s, pause budget "
        f"{p['pause_limit_seconds']} s; scenario 4: {', '.join(f'{n:,}' for n in p['scale'])} rows; "
        f"no-op baseline {p['noop_tasks']} tasks; pgbench scale {p['pgbench_scale']}, {p['pgbench_seconds']} s per run",
        f"- scenario 7: {', '.join(f'{n:,}' for n in p.get('feed', ()))} events, {p.get('feed_requests')} feed "
        f"requests per size; scenario 8: K tickets per phase, a backlog of {p.get('webhook_backlog')} events, "
        f"{p.get('webhook_paced_seconds')} s at half the delivery rate; the receiver (bench/receiver.py) answers "
        "200 at once",
        "",
        "### Targets",
        "",
        "| target | limit | measured | verdict (measured ÷ limit) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t.name} | {t.limit} | {t.measured} | {t.verdict} |" for t in targets(results)]
    lines += ["", "### Figures", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in figures(results)]
    scale = results["scenarios"].get("scale")
    if scale and scale.get("stages"):
        lines += ["", "`GET /api/v1/tickets` by query (p50 / p99 ms):", ""]
        sizes = [stage["rows"] for stage in scale["stages"]]
        lines.append("| query | " + " | ".join(f"{n:,} rows" for n in sizes) + " |")
        lines.append("| --- |" + " --- |" * len(sizes))
        for variant in scale["stages"][0]["list_tickets"]["variants"]:
            cells = [_pair(stage["list_tickets"]["variants"][variant]) for stage in scale["stages"]]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Sweep query plans: "
            + "; ".join(
                f"{stage['rows']:,} rows: {', '.join(stage['sweep_0_due']['indexes']) or 'no index'} "
                f"(server {stage['sweep_0_due']['server_ms']} ms with 0 due, {stage['sweep_1000_due']['server_ms']} ms "
                "with 1,000 due)"
                for stage in scale["stages"]
            )
            + ".",
        ]
    lines += analytics.plan_lines(results["scenarios"].get("analytics"))
    problems = results.get("problems") or []
    lines += ["", "Correctness checks: " + ("all passed." if not problems else "; ".join(problems))]
    return "\n".join(lines)
