"""`make bench`: start a private stack, run every scenario, print the figures, write bench/results/<UTC>.json and
regenerate BENCHMARKS.md.

`--smoke` (`make bench-smoke`) runs the same harness with tiny sizes, writes its results to a temporary directory and
leaves BENCHMARKS.md alone. Either way the exit status is non-zero when a scenario errors or a correctness check
fails (a command `failed` or refused, an auto-resume missed, doubled or not recorded at its deadline). Performance
targets never fail the run: they are reported. Ctrl-C or SIGTERM stops every process and drops the database.
"""

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.context import Context, Params
from bench.stack import MemorySampler, Stack, StackSettings
from tests.support.logs import ROOT

SCENARIOS = (
    "baselines",
    "throughput",
    "lifecycle",
    "scale_out",
    "auto_resume",
    "scale",
    "analytics",
    "webhooks",
    "feed",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes; results to a temp dir; BENCHMARKS.md untouched"
    )
    parser.add_argument("--db-name", default=None, help="database to create and drop (default ticketflow_bench)")
    parser.add_argument("--redis-db", type=int, default=None, help="Redis database number (default 13, smoke 12)")
    parser.add_argument("--results-dir", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--keep-logs", action="store_true", help="smoke: keep the temporary logs and results")
    parser.add_argument("--tickets", type=int, help="scenario 1: tickets per phase (K)")
    parser.add_argument("--clients", type=int, help="scenario 1 and /healthz: concurrent HTTP clients (C)")
    parser.add_argument("--lifecycle-tickets", type=int, help="scenario 9: tickets (default 400, smoke 8)")
    parser.add_argument("--sessions", type=int, help="scenario 3: paused sessions per phase (N)")
    parser.add_argument("--scale", type=int, nargs="+", help="scenario 4: row counts, smallest first")
    parser.add_argument("--analytics", type=int, nargs="+", help="scenario 6: ticket counts, smallest first")
    parser.add_argument("--feed", type=int, nargs="+", help="scenario 7: events stored, smallest first")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        default=list(SCENARIOS),
        help="run these scenarios (BENCHMARKS.md is regenerated only by a full run of all of them)",
    )
    args = parser.parse_args(argv)
    args.db_name = args.db_name or ("ticketflow_bench_smoke" if args.smoke else "ticketflow_bench")
    args.lifecycle_tickets = args.lifecycle_tickets or (8 if args.smoke else 400)
    args.redis_db = args.redis_db if args.redis_db is not None else (12 if args.smoke else 13)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = (Params.smoke() if args.smoke else Params()).with_overrides(
        tickets=args.tickets,
        clients=args.clients,
        sessions=args.sessions,
        scale=tuple(args.scale) if args.scale else None,
        analytics=tuple(args.analytics) if args.analytics else None,
        feed=tuple(args.feed) if args.feed else None,
    )
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = (
        Path(tempfile.mkdtemp(prefix=f"ticketflow-bench-{stamp}-")) if args.smoke else ROOT / "var" / "bench" / stamp
    )
    complete = not args.smoke and set(args.only) == set(SCENARIOS)
    results_dir = args.results_dir or (ROOT / "bench" / "results" if complete else workdir)
    settings = StackSettings(
        db_name=args.db_name,
        redis_db=args.redis_db,
        run_id=secrets.token_hex(4),
        log_dir=workdir / "logs",
        web_workers=params.web_workers,
        web_threads=params.web_threads,
        worker_concurrency=params.worker_concurrency,
    )
    os.environ.update(settings.env())  # this process reads the same database, Redis and queues as its children
    import django

    django.setup()
    signal.signal(signal.SIGTERM, _interrupt)

    from bench.report import describe_machine, load_average, print_tables, write_benchmarks_md, write_json
    from workers.schedule import periodic_jobs

    console = Console()
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "scenarios_run": args.only,
        "command": " ".join([".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "make_command": "make bench-smoke" if args.smoke else "make bench",
        "params": asdict(params),
        "settings": {
            "db_name": settings.db_name,
            "redis_db": settings.redis_db,
            "web_workers": settings.web_workers,
            "web_threads": settings.web_threads,
            "worker_concurrency": settings.worker_concurrency,
            "sweep_interval_seconds": next(j.every_seconds for j in periodic_jobs() if "auto_resume" in j.task),
        },
        "load_average": {"start": load_average()},
        "scenarios": {},
        "errors": {},
        "timings": {},
    }
    console.print(f"[bold]ticketflow benchmarks[/bold]{' (smoke)' if args.smoke else ''}: logs in {settings.log_dir}")
    clock = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    try:
        with progress, Stack(settings, say=progress.console.print) as stack:
            run_all(stack, params, progress, results, args.only, lifecycle_tickets=args.lifecycle_tickets)
            results["machine"] = describe_machine()
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: processes stopped, database dropped")
        return 130
    except Exception:
        results["errors"]["stack"] = traceback.format_exc()
        console.print(f"[red]the stack failed[/red]:\n{results['errors']['stack']}")
    results["duration_seconds"] = round(time.perf_counter() - clock, 1)
    results["load_average"]["end"] = load_average()
    results["problems"] = [
        p for scenario in results["scenarios"].values() for p in (scenario or {}).get("problems", [])
    ]
    results.setdefault("machine", {})

    if results["scenarios"] and results["machine"]:
        print_tables(console, results)
    path = write_json(results, results_dir, stamp)
    console.print(f"results: {path}")
    if not args.smoke:
        if results["errors"] or not complete:
            console.print("[yellow]BENCHMARKS.md left as it was: not every scenario ran[/yellow]")
        else:
            write_benchmarks_md(results, ROOT / "BENCHMARKS.md", str(path.relative_to(ROOT)))
            console.print("BENCHMARKS.md regenerated")
    for name, error in results["errors"].items():
        console.print(f"[red]scenario {name} errored[/red]:\n{error}")
    for problem in results["problems"]:
        console.print(f"[red]check failed[/red]: {problem}")
    failed = bool(results["errors"] or results["problems"])
    if args.smoke and not failed and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def run_all(
    stack: Stack, params: Params, progress: Progress, results: dict, only: list[str], *, lifecycle_tickets: int = 400
) -> None:
    from bench.data import Builder, analyze
    from bench.scenarios import (
        analytics,
        auto_resume,
        baselines,
        feed,
        lifecycle,
        scale,
        scale_out,
        throughput,
        webhooks,
    )

    say = progress.console.print
    settings = stack.settings
    say(f"starting the stack: database {settings.db_name}, Redis db {settings.redis_db}, web on {stack.base_url}")
    started = time.perf_counter()
    stack.create_database(settings.db_name)
    stack.migrate()
    results["timings"]["migrate"] = round(time.perf_counter() - started, 1)
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    results["timings"]["stack"] = round(time.perf_counter() - started, 1)

    builder = Builder()
    staff = builder.staff()
    batches = {
        "peak": builder.assigned_tickets("peak", params.tickets, staff),
        "half": builder.assigned_tickets("half", params.tickets, staff),
        "steady": builder.assigned_tickets("steady", params.tickets, staff),
        "eta": builder.assigned_tickets("eta", params.sessions, staff),
        "sweep": builder.assigned_tickets("sweep", params.sessions, staff),
    }
    analyze()
    ctx = Context(stack=stack, params=params, staff=staff, builder=builder, progress=progress)

    def attempt(name: str, scenario):
        say(f"{time.strftime('%H:%M:%S')} {name}")
        started = time.perf_counter()
        try:
            results["scenarios"][name] = value = scenario()
        except KeyboardInterrupt:
            raise
        except Exception:
            results["errors"][name] = traceback.format_exc()
            say(f"[red]{name} errored[/red] (details at the end)")
            return None
        finally:
            results["timings"][name] = round(time.perf_counter() - started, 1)
        return value

    if "baselines" in only:
        attempt("baseline_healthz", lambda: baselines.healthz(ctx))
        attempt("baseline_celery_noop", lambda: baselines.celery_noop(ctx))
        attempt("baseline_pgbench", lambda: baselines.pgbench(ctx))

    if "throughput" in only:
        with MemorySampler({"web": stack.children["web"], "worker": stack.children["worker"]}) as memory:
            peak = attempt("throughput_peak", lambda: throughput.drive(ctx, batches["peak"], label="peak"))
            if peak and peak["accepted_per_s"]:
                rate = peak["accepted_per_s"] / 2
                attempt("throughput_half", lambda: throughput.drive(ctx, batches["half"], label="half rate", rate=rate))
            if peak and peak["applied_per_s"]:
                # Not a target, but telling: the latency when less is offered than the worker applies.
                steady = peak["applied_per_s"] / 2
                attempt(
                    "throughput_steady",
                    lambda: throughput.drive(ctx, batches["steady"], label="half the applied rate", rate=steady),
                )
        results["scenarios"]["memory"] = memory.result()

    if "lifecycle" in only:  # 16 clients (the shape), fewer when --clients says so (smoke: 4)
        clients = min(16, params.clients)
        attempt("lifecycle", lambda: lifecycle.run(ctx, tickets=lifecycle_tickets, clients=clients))

    if "scale_out" in only:  # before auto_resume, which restarts the worker with settings of its own
        attempt("scale_out", lambda: scale_out.run(ctx, tickets=max(4, lifecycle_tickets // 2)))

    if "auto_resume" in only:
        if attempt("pause_limit", lambda: auto_resume.set_pause_limit(ctx, params.pause_limit_seconds)) is not None:
            attempt("auto_resume_eta", lambda: auto_resume.punctuality(ctx, batches["eta"], label="ETA + sweep"))
            stack.restart_worker(AUTO_RESUME_ETA="0")  # and so it stays: the scale scenario needs no ETA jobs
            attempt(
                "auto_resume_sweep_only", lambda: auto_resume.punctuality(ctx, batches["sweep"], label="sweep only")
            )
            # Back to the default budget now, while few sessions are paused: its re-derivation of every paused
            # session's deadline is then instant. Made after scenario 4 (110,000 paused sessions), it ran for
            # minutes beside the webhook drives, its CPU counted as theirs. And the short budget would auto-resume
            # pauses waiting behind the drives' backlog.
            from apps.rules.config import WorkSessionConfig

            default_limit = WorkSessionConfig().daily_pause_limit_seconds
            attempt("pause_limit", lambda: auto_resume.set_pause_limit(ctx, default_limit))
        results["scenarios"].pop("pause_limit", None)

    if "scale" in only:
        attempt("scale", lambda: scale.run(ctx))

    if "analytics" in only:
        attempt("analytics", lambda: analytics.run(ctx))

    if "webhooks" in only:
        per_phase = max(1, params.tickets // 2)
        cost_batches = [
            builder.assigned_tickets(f"hooks{n}", per_phase, staff) for n in range(len(webhooks.COST_PHASES))
        ]
        counted = builder.assigned_tickets("statements", 3, staff)
        analyze()
        attempt("webhook_statements", lambda: webhooks.statements_per_command(ctx, counted))
        attempt("webhook_cost", lambda: webhooks.cost(ctx, cost_batches))
        attempt("webhook_delivery", lambda: webhooks.delivery(ctx))

    if "feed" in only:  # last: the million events it loads stay
        attempt("feed", lambda: feed.run(ctx))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
