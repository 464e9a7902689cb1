"""Private servers for the fault tests: a Redis server and a PostgreSQL cluster of their own, on loopback.

Fault tests stop, restart and flush these, never the machine's shared PostgreSQL (5432) or Redis (6379).
Each cleans up after itself in `close()`, which is safe to call twice and after a failure.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import redis

from tests.support.logs import tail
from tests.support.processes import ProcessTree, free_port, wait_until


class PrivateRedis:
    """A throwaway `redis-server` (nothing on disk) on a free port: restart and FLUSHALL it at will."""

    def __init__(self, name: str):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"tf-fault-redis-{name}-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            shutil.which("redis-server") or "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--daemonize", "no", "--dir", str(self.dir)),
        ]
        self.process = ProcessTree("redis", argv, dict(os.environ), log_dir=self.dir)

    def start(self) -> "PrivateRedis":
        self.process.start()
        wait_until(self.ping, what=f"redis-server on port {self.port}", timeout=10, interval=0.1, process=self.process)
        return self

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        self.process.stop(timeout=15)

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

    `pg_ctl` runs the server as a daemon of its own, so it is started and stopped through `pg_ctl`, not as a
    process tree. PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user.
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
