"""Real processes for end-to-end and fault tests: a Celery worker and beat, started like production ones."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "test-logs"
CELERY = str(Path(sys.executable).parent / "celery")


def test_queues() -> str:
    return ",".join([settings.CELERY_QUEUE_COMMANDS, settings.CELERY_QUEUE_TIMERS, settings.CELERY_QUEUE_MAINTENANCE])


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: the test settings, pointed at the test database."""
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
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(*test_queues().split(","))


class CeleryProcess:
    def __init__(self, kind: str, *args: str, name: str, env: dict[str, str] | None = None):
        self.kind, self.args, self.name = kind, args, name
        self.env = env
        self.proc: subprocess.Popen | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"

    def start(self) -> "CeleryProcess":
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [CELERY, "-A", "config", self.kind, *self.args],
            cwd=ROOT,
            env=self.env or process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children, no cleanup."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Worker(CeleryProcess):
    def __init__(self, name: str = "", concurrency: int = 4, env: dict[str, str] | None = None):
        name = name or f"e2e-worker-{settings.RUN_ID}"
        super().__init__(
            "worker",
            "-Q",
            test_queues(),
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
            name=name,
            env=env,
        )

    def start(self, wait: bool = True) -> "Worker":
        super().start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            replies = app.control.ping(timeout=0.5)
            if any(f"{self.name}@" in key for reply in replies for key in reply):
                return
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_tail()}")


class Beat(CeleryProcess):
    def __init__(self, name: str = "", env: dict[str, str] | None = None):
        name = name or f"e2e-beat-{settings.RUN_ID}"
        super().__init__(
            "beat",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "-l",
            "INFO",
            "--pidfile=",
            name=name,
            env=env,
        )
