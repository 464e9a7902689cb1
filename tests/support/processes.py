"""The one launcher of child processes, for the test suite and the benchmark harness (bench/stack.py).

Every child runs in a session of its own and logs to a file, so stopping one stops its whole tree (gunicorn
workers, Celery pool processes) and nothing else. `stop()` asks the tree to shut down (SIGTERM: in-flight work
finishes), then SIGKILLs whatever is left of the tree; `kill()` is the crash (SIGKILL to the tree at once).

The command lines of the processes themselves (gunicorn, a Celery worker, beat) are built here too, so the tests
and the benchmarks start them the same way. Django is imported lazily: bench imports this module before its own
settings are configured.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from tests.support.logs import LOG_DIR, ROOT, tail

BIN = Path(sys.executable).parent


class ProcessTree:
    """One process tree, started in a session of its own and logged to `<log_dir>/<name>.log` (appended)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, log_dir: Path = LOG_DIR):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def members(self) -> list[int]:
        """Every live process of the tree (the leader called setsid, so the session id is its pid)."""
        return session_members(self.pid) if self.proc is not None else []

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the tree (warm shutdown: in-flight work finishes), SIGKILL whatever is left after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        _signal_group(self.pid, signal.SIGKILL)  # stray children whose parent is gone
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole tree at once: no cleanup, transactions in flight roll back, messages strand."""
        if self.proc is None:
            return
        _signal_group(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)


@contextlib.contextmanager
def running(*processes: ProcessTree):
    """The processes run for the block, and are stopped after it whatever happens."""
    started = []
    try:
        for process in processes:
            started.append(process.start())
        yield processes
    finally:
        for process in reversed(started):
            process.stop()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def session_members(leader: int) -> list[int]:
    """Every live process in the session `leader` started (read from /proc; psutil is not a dependency)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, session, ...
        if int(fields[3]) == leader:
            members.append(int(entry.name))
    return members


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, what: str, timeout: float, interval: float = 0.2, process: ProcessTree | None = None):
    """Poll `check` until it returns a truthy value (returned). Raises TimeoutError after `timeout` seconds, and
    RuntimeError as soon as `process` (when given) has exited; both carry the process's log tail."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.running:
            raise RuntimeError(f"{what}: {process.name} exited:\n{process.log_tail()}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = f":\n{process.log_tail()}" if process is not None else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{logs}")
        time.sleep(interval)


def run_python(*args: str, env: dict[str, str], timeout: float = 300, check: bool = True, input: str | None = None):
    """`python <args>` in the repository with its output captured. With `check`, a non-zero exit raises
    RuntimeError carrying the output; without, the caller reads `returncode`."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}")
    return result


def migrate(env: dict[str, str]) -> None:
    """`manage.py migrate` against env's DATABASE_URL, as a deploy runs it."""
    run_python("manage.py", "migrate", "--noinput", "-v", "0", env=env)


# --- the processes of a ticketflow stack ----------------------------------------------------------------------------


def gunicorn_argv(port: int, *, workers: int = 1, threads: int, graceful_timeout: int, extra: tuple = ()) -> list:
    """The API as the Procfile serves it: gunicorn with gthread workers (a long-poll holds a thread, not a process)."""
    return [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--graceful-timeout",
        str(graceful_timeout),
        *extra,
    ]


class Web(ProcessTree):
    """gunicorn serving the API on a loopback port (a free one unless given), ready once /healthz answers."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        port: int | None = None,
        workers: int = 1,
        threads: int = 8,
        graceful_timeout: int = 5,
        extra: tuple = (),
        log_dir: Path = LOG_DIR,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = gunicorn_argv(
            self.port, workers=workers, threads=threads, graceful_timeout=graceful_timeout, extra=extra
        )
        super().__init__(name, argv, env, log_dir=log_dir)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60) -> "Web":
        wait_until(self.healthy, what=f"gunicorn /healthz on {self.url}", timeout=timeout, interval=0.1, process=self)
        return self


def celery_argv(kind: str, *args: str) -> list[str]:
    return [str(BIN / "celery"), "-A", "config", kind, *args]


def worker_argv(node: str, queues: list[str], *, concurrency: int, extra: tuple = ()) -> list[str]:
    """A Celery worker named `node` on `queues`. Other runs may share the Redis database: it neither syncs with
    nor listens to their workers."""
    return celery_argv(
        "worker",
        "-Q",
        ",".join(queues),
        "-c",
        str(concurrency),
        "-n",
        node,
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
        *extra,
    )


def beat_argv() -> list[str]:
    return celery_argv(
        "beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--loglevel", "INFO", "--pidfile="
    )


def node_name(name: str) -> str:
    """The Celery node name `-n name@%h` expands to."""
    return f"{name}@{socket.gethostname()}"


def worker_answers(broker_url: str, node: str) -> bool:
    """Does the worker `node` answer a control ping over `broker_url` (False while the broker is away)?"""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        return bool(app.control.ping(destination=[node], timeout=0.5))
    except Exception:
        return False
    finally:
        app.close()


def wait_worker_ready(process: ProcessTree, node: str, *, broker_url: str, timeout: float = 60) -> None:
    wait_until(lambda: worker_answers(broker_url, node), what=f"celery worker {node}", timeout=timeout, process=process)


# --- the test suite's own workers and beat, on the test database and this run's queues ------------------------------


def test_queues() -> list[str]:
    from django.conf import settings

    return [settings.CELERY_QUEUE_COMMANDS, settings.CELERY_QUEUE_TIMERS, settings.CELERY_QUEUE_MAINTENANCE]


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: the test settings, pointed at the test database."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL="postgres://{}@{}:{}/{}".format(
            db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]
        ),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def purge_test_queues() -> None:
    """Drop messages left in this run's queues (never another run's, never the developer's database)."""
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(*test_queues())


class Worker(ProcessTree):
    """`celery -A config worker` on this run's queues (or `queues`), pinged over `broker_url` until it answers."""

    def __init__(
        self,
        name: str = "",
        *,
        concurrency: int = 4,
        env: dict[str, str] | None = None,
        queues: list[str] | None = None,
        broker_url: str | None = None,
    ):
        from django.conf import settings

        name = name or f"e2e-worker-{settings.RUN_ID}"
        self.node = node_name(name)
        self.broker_url = broker_url or settings.REDIS_URL
        argv = worker_argv(self.node, queues or test_queues(), concurrency=concurrency)
        super().__init__(name, argv, env if env is not None else process_env())

    def start(self, wait: bool = True) -> "Worker":
        super().start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        wait_worker_ready(self, self.node, broker_url=self.broker_url, timeout=timeout)


class Beat(ProcessTree):
    """`celery -A config beat` with the database scheduler."""

    def __init__(self, name: str = "", env: dict[str, str] | None = None):
        from django.conf import settings

        name = name or f"e2e-beat-{settings.RUN_ID}"
        super().__init__(name, beat_argv(), env if env is not None else process_env())
