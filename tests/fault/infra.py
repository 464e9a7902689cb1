"""Private infrastructure for fault tests: a Redis server, a PostgreSQL cluster and a gunicorn web, all on loopback.

Fault tests stop, restart and flush these, never the machine's shared PostgreSQL (5432) or Redis (6379).
Every class here cleans up after itself in `close()`, which is safe to call twice and after a failure.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import httpx
import redis
from celery import Celery

from tests.processes import LOG_DIR, ROOT, Beat, Worker

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns a truthy value (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _terminate_group(proc: subprocess.Popen | None, *, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class PrivateRedis:
    """A throwaway `redis-server` (nothing on disk) on a free port: restart and FLUSHALL it at will."""

    def __init__(self, name: str):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"tf-fault-redis-{name}-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "redis.log"

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.ping, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        _terminate_group(self.proc)

    def restart(self, *, down_for: float) -> None:
        """Stop the server (everything it held is gone: nothing is saved), stay down `down_for` s, start again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def flushall(self) -> None:
        with redis.Redis(port=self.port) as client:
            client.flushall()

    def drop_queue(self, queue: str) -> int:
        """Delete a Celery queue's list (and its priority lists): every message waiting in it is lost."""
        with redis.Redis(port=self.port) as client:
            keys = [queue, *client.scan_iter(match=f"{queue}\x06\x16*")]
            return int(client.delete(*keys))

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temp dir (trust auth, loopback only), stopped and started at will.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user.
    """

    def __init__(self, name: str, bindir: Path):
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"tf-fault-pg-{name}-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres", group="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.running = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, cwd=self.dir, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{tail(self.log_path)}")

    def init(self) -> "PrivatePostgres":
        initdb = str(self.bindir / "initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> "PrivatePostgres":
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        self.running = True
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash (recovery at the next start)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres").replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database (a copy of `template`, which nobody may be connected to); returns its URL."""
        statement = f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
        for attempt in range(50):
            try:
                self.execute(statement)
                break
            except Exception as exc:  # the template's last sessions may take a moment to end
                if "being accessed by other users" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self.running and (self.data / "postmaster.pid").exists():
            with suppress(Exception):  # teardown goes on to remove the directory whatever happens
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def migrate(env: dict[str, str]) -> None:
    """`manage.py migrate` against env's DATABASE_URL, as a deploy runs it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr[-4000:]}")


class Web:
    """The API as production runs it: gunicorn, gthread workers, on a free loopback port."""

    def __init__(self, name: str, env: dict[str, str], threads: int = 8):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"

    def start(self) -> "Web":
        return self.launch().wait_ready()

    def launch(self) -> "Web":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "config.wsgi:application",
                    "-b",
                    f"127.0.0.1:{self.port}",
                    "--worker-class",
                    "gthread",
                    "--threads",
                    str(self.threads),
                    "--graceful-timeout",
                    "5",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> "Web":
        wait_until(self._healthy, timeout=60, what=f"gunicorn on {self.url}\n{tail(self.log_path)}", interval=0.1)
        return self

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{tail(self.log_path)}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        _terminate_group(self.proc)


class QueueWorker(Worker):
    """A worker on chosen queues only (README: "give `timers` a worker of its own under heavy load")."""

    def __init__(self, name: str, queues: list[str], env: dict[str, str], concurrency: int = 4):
        super().__init__(name=name, concurrency=concurrency, env=env)
        args = list(self.args)
        args[args.index("-Q") + 1] = ",".join(queues)
        self.args = tuple(args)


def worker_is_ready(broker_url: str, name: str) -> bool:
    """A control ping over the private broker (tests.processes.Worker pings the shared one)."""
    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(timeout=0.5)
    except Exception:
        return False
    finally:
        app.close()
    return any(key.startswith(f"{name}@") for reply in replies for key in reply)


def start_worker(worker: Worker, broker_url: str, timeout: float = 60) -> Worker:
    worker.start(wait=False)
    return wait_worker_ready(worker, broker_url, timeout)


def wait_worker_ready(worker: Worker, broker_url: str, timeout: float = 60) -> Worker:
    def ready() -> bool:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log_tail()}")
        return worker_is_ready(broker_url, worker.name)

    wait_until(ready, timeout=timeout, what=f"worker {worker.name}", interval=0.2)
    return worker


def run_tool(env: dict[str, str], command: str, args: dict | None = None, timeout: float = 300) -> dict:
    """Run `python -m tests.fault.tool <command>` against the stack's database; its last stdout line is JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.fault.tool", command],
        input=json.dumps(args or {}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tool {command} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


__all__ = [
    "Beat",
    "PrivatePostgres",
    "PrivateRedis",
    "Web",
    "Worker",
    "free_port",
    "migrate",
    "postgres_bindir",
    "run_tool",
    "start_worker",
    "wait_until",
]
