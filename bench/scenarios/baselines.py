"""Scenario 2: what the same machine, broker, web server and database do with (almost) nothing to do.

(a) Celery no-op tasks/s through the command worker itself (`bench.noop`, published by 4 threads as the web's
    threads publish commands);
(b) GET /healthz requests/s through the same gunicorn with the same number of clients;
(c) pgbench TPS: select-only and TPC-B-like, 4 clients (the worker's concurrency), in a database of its own.
"""

import re
import shutil
import subprocess
import threading
import time

import redis

from bench.context import Context
from bench.loadgen import STOP, Client, run_clients
from bench.stack import PG
from bench.stats import summary_ms


def celery_noop(ctx: Context) -> dict:
    from bench.noop import NOOP_TASK
    from config.celery import app

    settings = ctx.stack.settings
    counter = f"bench-{settings.run_id}-noop-done"
    client = redis.Redis.from_url(settings.redis_url)

    def publish(count: int, publishers: int = 4) -> None:
        def send(n: int) -> None:
            for _ in range(n):
                app.send_task(NOOP_TASK, args=[counter], queue=settings.noop_queue)

        shares = [count // publishers + (i < count % publishers) for i in range(publishers)]
        threads = [threading.Thread(target=send, args=(n,)) for n in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def wait_for(count: int, bar=None, timeout: float = 180) -> float:
        deadline = time.monotonic() + timeout
        while (done := int(client.get(counter) or 0)) < count:
            if time.monotonic() > deadline or STOP.is_set():
                raise RuntimeError(f"only {done} of {count} no-op tasks ran in {timeout:.0f} s")
            if bar is not None:
                bar.set(done)
            time.sleep(0.002)
        return time.perf_counter()

    publish(100)  # warm the producer pool
    wait_for(100)
    client.delete(counter)
    tasks = ctx.params.noop_tasks
    with ctx.bar("baseline: Celery no-op tasks", tasks) as bar:
        started = time.perf_counter()
        publish(tasks)
        published = time.perf_counter()
        finished = wait_for(tasks, bar)
        bar.set(tasks)
    return {
        "tasks": tasks,
        "concurrency": settings.worker_concurrency,
        "tasks_per_s": round(tasks / (finished - started), 1),
        "published_per_s": round(tasks / (published - started), 1),
    }


def healthz(ctx: Context) -> dict:
    seconds = ctx.params.healthz_seconds

    def work(client: Client) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and not STOP.is_set():
            client.request("GET", "/healthz")

    with ctx.bar("baseline: GET /healthz", seconds) as bar:
        started = time.perf_counter()
        samples = run_clients(
            ctx.stack.base_url,
            ctx.params.clients,
            work,
            on_tick=lambda: bar.set(min(time.perf_counter() - started, seconds)),
        )
    ok = [s for s in samples if s.status == 200]
    window = max(s.sent + s.seconds for s in samples) - min(s.sent for s in samples)
    return {
        "clients": ctx.params.clients,
        "requests": len(samples),
        "non_200": len(samples) - len(ok),
        "requests_per_s": round(len(ok) / window, 1),
        "latency": summary_ms(s.seconds for s in ok),
    }


PGBENCH = shutil.which("pgbench") or "/usr/bin/pgbench"
TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def pgbench(ctx: Context) -> dict:
    if not shutil.which(PGBENCH):
        return {"skipped": "pgbench not found"}
    db = ctx.stack.settings.pgbench_db
    ctx.stack.create_database(db)
    conn = ["-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"]]
    params, clients = ctx.params, ctx.stack.settings.worker_concurrency
    out = {"scale": params.pgbench_scale, "clients": clients, "threads": 2, "seconds": params.pgbench_seconds}
    with ctx.bar("baseline: pgbench", 3) as bar:
        _run([PGBENCH, *conn, "-i", "-q", "-s", str(params.pgbench_scale), db])
        bar.set(1)
        common = [PGBENCH, *conn, "-c", str(clients), "-j", "2", "-T", str(params.pgbench_seconds)]
        out["select_only_tps"] = _tps(_run([*common, "-S", "-n", db]))
        bar.set(2)
        out["tpcb_like_tps"] = _tps(_run([*common, db]))
        bar.set(3)
    ctx.stack.drop_database(db)
    return out


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def _tps(output: str) -> float:
    match = TPS.search(output)
    if match is None:
        raise RuntimeError(f"no TPS in pgbench output:\n{output}")
    return round(float(match.group(1)), 1)
