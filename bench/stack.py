"""The harness's own stack: a fresh database, gunicorn, one Celery worker and beat, on a Redis database of its own.

The children are started and stopped by the test suite's launcher (tests/support/processes.py): each runs in a
session of its own, so stopping one stops its whole tree (gunicorn workers, pool processes) and nothing else.
Teardown drops only the databases this run created and deletes only the Redis keys that carry this run's id: the
PostgreSQL and Redis servers are shared with other people.
"""

import contextlib
import json
import os
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from tests.support.processes import (
    ProcessTree,
    Web,
    beat_argv,
    free_port,
    migrate,
    node_name,
    wait_worker_ready,
    worker_argv,
)

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
SAFE_DB_NAME = re.compile(r"^[a-z][a-z0-9_]*bench[a-z0-9_]*$")

# Settings a developer's shell (or the test suite that runs the smoke) may have exported; children get defaults.
INHERITED_SETTINGS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DATABASE_CONNECT_TIMEOUT",
    "REDIS_URL",
    "CACHE_KEY_PREFIX",
    "CELERY_QUEUE_COMMANDS",
    "CELERY_QUEUE_TIMERS",
    "CELERY_QUEUE_MAINTENANCE",
    "CELERY_QUEUE_WEBHOOKS",
    "CELERY_VISIBILITY_TIMEOUT",
    "COMMAND_STALE_AFTER_SECONDS",
    "COMMAND_MAX_ATTEMPTS",
    "COMMAND_RATE_LIMIT_PER_MINUTE",
    "API_TOKEN_CACHE_SECONDS",  # the suite turns the cache off; a bench measures the production default
    "IDEMPOTENCY_RETENTION_HOURS",
    "AUTO_RESUME_ETA",
    "TEST_DATABASE_NAME",
    "TICKETFLOW_TEST_RUN",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "ALLOWED_HOSTS",
    "WEBHOOK_ALLOW_PRIVATE_TARGETS",
)


@dataclass(frozen=True)
class StackSettings:
    db_name: str
    redis_db: int
    run_id: str
    log_dir: Path
    web_workers: int = 2
    web_threads: int = 16
    worker_concurrency: int = 4
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40), repr=False)

    def __post_init__(self):
        if not SAFE_DB_NAME.match(self.db_name):
            raise ValueError(f"refusing database name {self.db_name!r}: it must be lower-case and contain 'bench'")

    @property
    def database_url(self) -> str:
        return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{self.db_name}"

    @property
    def pgbench_db(self) -> str:
        return f"{self.db_name}_pgbench"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:6379/{self.redis_db}"

    @property
    def queues(self) -> dict[str, str]:
        return {
            "CELERY_QUEUE_COMMANDS": f"bench-{self.run_id}-commands",
            "CELERY_QUEUE_TIMERS": f"bench-{self.run_id}-timers",
            "CELERY_QUEUE_MAINTENANCE": f"bench-{self.run_id}-maintenance",
            "CELERY_QUEUE_WEBHOOKS": f"bench-{self.run_id}-webhooks",
        }

    @property
    def noop_queue(self) -> str:
        return f"bench-{self.run_id}-noop"

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: production settings (DEBUG off) pointed at this run's database, Redis and queues."""
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CACHE_KEY_PREFIX=f"bench-{self.run_id}",
            COMMAND_RATE_LIMIT_PER_MINUTE="0",
            AUTO_RESUME_ETA="1",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=self.secret_key,
            SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback, as behind a TLS-terminating proxy
            LOG_LEVEL="INFO",
            WEBHOOK_ALLOW_PRIVATE_TARGETS="1",  # the webhook scenarios' receiver listens on loopback
            BENCH_NOOP_QUEUE=self.noop_queue,
            PYTHONUNBUFFERED="1",
            **self.queues,
        )
        env.update(extra)
        return env


class Stack:
    """Database, web, worker and beat for one benchmark run. Use as a context manager: exit tears it all down."""

    def __init__(self, settings: StackSettings, say=print):
        self.settings = settings
        self.say = say
        self.port = free_port()
        self.children: dict[str, ProcessTree] = {}
        self.databases: list[str] = []
        self._log_names: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def worker_node(self) -> str:
        return node_name(f"bench-{self.settings.run_id}")

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc_info) -> None:
        self.down()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        recreate_database(name)
        self.databases.append(name)

    def drop_database(self, name: str) -> None:
        drop_database(name)
        self.databases.remove(name)

    def migrate(self) -> None:
        migrate(self.settings.env())

    def start_web(self) -> None:
        s = self.settings
        web = Web(
            self._log_name("web"),
            s.env(),
            port=self.port,
            workers=s.web_workers,
            threads=s.web_threads,
            graceful_timeout=40,
            extra=("--timeout", "60", "--access-logfile", "-"),
            log_dir=s.log_dir,
        )
        self.children["web"] = web.start()
        web.wait_ready()

    def start_worker(self, **extra_env: str) -> None:
        queues = [*self.settings.queues.values(), self.settings.noop_queue]
        # -E: task events; -I: the Celery baseline's no-op task, on a queue of its own (idle but for that baseline).
        argv = worker_argv(
            self.worker_node, queues, concurrency=self.settings.worker_concurrency, extra=("-E", "-I", "bench.noop")
        )
        child = self.start("worker", argv, **extra_env)
        wait_worker_ready(child, self.worker_node, broker_url=self.settings.redis_url, timeout=90)

    def start_pinned_worker(self, name: str, *, cpu: int, concurrency: int = 1) -> None:
        """Another worker node on the queues the run's worker consumes (not the no-op baseline's, nor the webhooks
        worker's), pinned to one core (`taskset`)."""
        node = node_name(f"bench-{self.settings.run_id}-{name}")
        queues = [
            queue
            for key, queue in self.settings.queues.items()
            if not (key == "CELERY_QUEUE_WEBHOOKS" and "webhooks" in self.children)
        ]
        argv = worker_argv(node, queues, concurrency=concurrency, extra=("-E",))
        child = self.start(name, ["taskset", "-c", str(cpu), *argv])
        wait_worker_ready(child, node, broker_url=self.settings.redis_url, timeout=90)

    def restart_worker(self, **extra_env: str) -> None:
        self.children.pop("worker").stop()
        self.start_worker(**extra_env)

    def start_beat(self) -> None:
        child = self.start("beat", beat_argv())
        time.sleep(1.0)
        if not child.running:
            raise RuntimeError(f"beat exited at start:\n{child.log_tail()}")

    def start(self, name: str, argv: list[str], **extra_env: str) -> ProcessTree:
        env = self.settings.env(**extra_env)
        child = ProcessTree(self._log_name(name), argv, env, log_dir=self.settings.log_dir).start()
        self.children[name] = child
        return child

    def _log_name(self, name: str) -> str:
        """The name itself, or `<name>-<n>` for a process started again (each start logs to a file of its own)."""
        log_name, n = name, 1
        while log_name in self._log_names:
            n += 1
            log_name = f"{name}-{n}"
        self._log_names.add(log_name)
        return log_name

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is not None:
            child.stop()

    def cpu_snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds used so far by each process of web, worker, and this run's PostgreSQL backends."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            backends = [pid for (pid,) in cursor.fetchall()]
        trees = {name: self.children[name].members() for name in ("web", "worker") if name in self.children}
        return {name: {pid: cpu_seconds(pid) for pid in pids} for name, pids in {**trees, "postgres": backends}.items()}

    @staticmethod
    def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds used between two snapshots (processes gone meanwhile are not counted)."""
        return {
            name: round(sum(seconds - before.get(name, {}).get(pid, 0.0) for pid, seconds in pids.items()), 1)
            for name, pids in after.items()
        }

    def queued(self) -> int:
        """Messages waiting in this run's command, timer, maintenance and webhook queues."""
        client = redis.Redis.from_url(self.settings.redis_url)
        return sum(client.llen(queue) for queue in self.settings.queues.values())

    def down(self) -> None:
        """Stop every child (beat first, so nothing new is queued), clean this run's Redis keys, drop the databases.

        A second Ctrl-C (or SIGTERM) meanwhile is ignored: an interrupted teardown would leave processes behind.
        """
        masked = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in masked}
        try:
            self._down()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _down(self) -> None:
        for name in ["beat", *[n for n in self.children if n != "beat"]]:
            child = self.children.pop(name, None)
            if child is not None:
                try:
                    child.stop()
                except Exception as exc:  # keep tearing down the rest
                    self.say(f"[red]could not stop {name}: {exc}[/red]")
        try:
            clean_redis(
                self.settings.redis_url,
                self.settings.run_id,
                [*self.settings.queues.values(), self.settings.noop_queue],
            )
        except redis.RedisError as exc:
            self.say(f"[red]could not clean Redis keys: {exc}[/red]")
        _close_django_connections()
        for name in reversed(self.databases):
            try:
                drop_database(name)
            except psycopg.Error as exc:
                self.say(f"[red]could not drop database {name}: {exc}[/red]")
        self.databases.clear()


# --- PostgreSQL and Redis --------------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)


def recreate_database(name: str) -> None:
    if not SAFE_DB_NAME.match(name):
        raise ValueError(f"refusing database name {name!r}")
    with admin_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    if not SAFE_DB_NAME.match(name):
        raise ValueError(f"refusing database name {name!r}")
    with admin_connection() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def clean_redis(url: str, run_id: str, queues: list[str]) -> int:
    """Delete this run's keys (queues, bindings, cache, counters) and its messages left unacknowledged."""
    client = redis.Redis.from_url(url)
    deleted = 0
    for key in client.scan_iter(match=f"*{run_id}*", count=1000):
        deleted += client.delete(key)
    for tag, raw in client.hscan_iter("unacked"):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key in queues:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
            deleted += 1
    return deleted


def _close_django_connections() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # Django not configured in this process
        pass


# --- memory of process trees (/proc; psutil is not a dependency) ----------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples the summed RSS of process trees every `interval` seconds; also reads each process's VmHWM.

    The trees' members are listed again (a walk over /proc) only every `rescan` seconds, to keep the sampler cheap.
    """

    def __init__(self, children: dict[str, ProcessTree], interval: float = 0.25, rescan: float = 2.0):
        self.children = children
        self.interval, self.rescan = interval, rescan
        self.peak_sum_kib = dict.fromkeys(children, 0)
        self.peak_process_kib = dict.fromkeys(children, 0)
        self.processes = dict.fromkeys(children, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> "MemorySampler":
        for child in self.children.values():
            for pid in child.members():
                _reset_peak_rss(pid)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        members: dict[str, list[int]] = {}
        listed = 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed > self.rescan:
                members = {name: child.members() for name, child in self.children.items()}
                listed = time.monotonic()
            for name in self.children:
                sizes = [status_kib(pid, "VmRSS") for pid in members[name]]
                self.peak_sum_kib[name] = max(self.peak_sum_kib[name], sum(sizes))
                self.peak_process_kib[name] = max(self.peak_process_kib[name], max(sizes, default=0))
                self.processes[name] = max(self.processes[name], len(sizes))
            self._stop.wait(self.interval)

    def result(self) -> dict:
        out = {}
        for name, child in self.children.items():
            hwm = [status_kib(pid, "VmHWM") for pid in child.members()]
            out[name] = {
                "processes": self.processes[name],
                "peak_rss_sum_mib": round(self.peak_sum_kib[name] / 1024, 1),
                "peak_rss_largest_process_mib": round(self.peak_process_kib[name] / 1024, 1),
                "vmhwm_sum_mib": round(sum(hwm) / 1024, 1),
            }
        return out


def _reset_peak_rss(pid: int) -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0), so the peak is the scenario's, not the start-up's.
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
