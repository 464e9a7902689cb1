"""`make run` on a machine without PostgreSQL and Redis: embedded ones start, carry a ticket's whole life (its pause
resumed by the real worker and beat when the budget runs out), stop with the rest, and keep the data for the next run.

The stack is started exactly as the Makefile starts it (`python -m devstack run --port N`), with embedded mode forced
and its runtime folder in a temporary directory, so the developer's database, Redis and var/ are never touched.
"""

import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api import LiveClient
from tests.support.processes import ProcessTree, free_port, session_members, wait_until

pytestmark = [pytest.mark.e2e]

PAUSE_BUDGET = 2  # seconds
TEST_ONLY_VARIABLES = {"DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX", "DJANGO_SETTINGS_MODULE"}
TOKEN_LINE = re.compile(r"^\s+(demo-[\w-]+)\s+.*?\s(tf_\S+)$", re.MULTILINE)
FLOWER_LINE = re.compile(r"Flower\s+(http://\S+)\s+user (\S+)\s+password (\S+)")
TRY_CREATE = re.compile(r"-d '(\{\"type\": \"ticket\.create\".*?\})'")


class DevStack(ProcessTree):
    """`make run`'s command, on its own ports, embedded services forced, runtime files under `folder`."""

    def __init__(self, folder: Path, run: int):
        self.folder, self.port, self.flower_port = folder, free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items() if key not in TEST_ONLY_VARIABLES}
        env = {k: v for k, v in env.items() if not k.startswith("CELERY_QUEUE_")}
        env.update(
            TICKETFLOW_SERVICES="embedded",
            TICKETFLOW_VAR_DIR=str(folder),
            FLOWER_PORT=str(self.flower_port),
            DJANGO_DEBUG="1",
            PYTHONUNBUFFERED="1",
        )
        argv = [sys.executable, "-m", "devstack", "run", "--port", str(self.port)]
        super().__init__(f"devstack-run-{run}", argv, env, log_dir=folder / "logs")

    def wait_ready(self) -> "DevStack":
        wait_until(self._ready, what=f"{self.url}/readyz", timeout=90, interval=0.2, process=self)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def banner(self) -> str:
        return (self.folder / "run-banner.txt").read_text()

    def client(self, username: str) -> LiveClient:
        return LiveClient(self.url, dict(TOKEN_LINE.findall(self.banner))[username])

    def embedded_pids(self) -> list[int]:
        """The embedded PostgreSQL postmaster and redis-server (their own sessions, so not among members())."""
        postmaster = self.folder / "embedded" / "postgres" / "postmaster.pid"
        redis_pid = self.folder / "embedded" / "redis" / "redis-server.pid"
        return [int(path.read_text().split()[0]) for path in (postmaster, redis_pid) if path.exists()]

    def stop_like_ctrl_c(self) -> None:
        """SIGINT to the whole process group, as a terminal sends it; everything must be gone within a minute."""
        leader, embedded = self.pid, self.embedded_pids()
        with contextlib.suppress(ProcessLookupError):  # the runner may have exited on its own (a failed start)
            os.killpg(leader, signal.SIGINT)
        self.proc.wait(timeout=60)
        wait_until(lambda: not session_members(leader), what="the Procfile processes to exit", timeout=15)
        wait_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in embedded), what="the embedded servers", timeout=15
        )


def command_lines() -> str:
    lines = []
    for proc in Path("/proc").iterdir():
        try:
            lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return "\n".join(lines)


@pytest.fixture
def folder(tmp_path):
    """The runtime folder; whatever embedded server a failed run left behind is ended (SIGQUIT: PostgreSQL's
    immediate shutdown; the data is thrown away with the folder)."""
    yield tmp_path
    for pid_file in [tmp_path / "embedded/postgres/postmaster.pid", tmp_path / "embedded/redis/redis-server.pid"]:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)


def test_embedded_services_carry_a_ticket_and_keep_it_across_a_restart(folder):
    first = DevStack(folder, run=1).start()
    try:
        first.wait_ready()
        log = first.log_path.read_text()
        assert f"Embedded PostgreSQL running, data in {folder}/embedded/postgres" in log
        assert f"Embedded Redis running, data in {folder}/embedded/redis" in log
        assert (folder / "embedded" / "services.env").exists()  # what `make demo` reads to find them

        # Flower takes its password from its environment: it works, and no command line shows it.
        flower_url, flower_user, flower_password = FLOWER_LINE.search(first.banner).groups()
        assert flower_url == f"http://127.0.0.1:{first.flower_port}/"
        wait_until(lambda: _status(flower_url, (flower_user, flower_password)) == 200, what="Flower", timeout=60)
        assert _status(flower_url, None) == 401
        assert flower_password not in command_lines()

        admin, master, tech, qc = (first.client(f"demo-{name}") for name in ("admin", "master", "tech-2", "qc"))
        rules = admin.http.put(
            "/api/v1/rules",
            json={"config": {"work_session": {"daily_pause_limit_seconds": PAUSE_BUDGET}}, "reason": "short budget"},
        )
        assert rules.status_code == 200, rules.text
        # The banner's own "try it" command opens the ticket; demo-tech-2 already has an assigned demo ticket.
        created = master.run(json.loads(TRY_CREATE.search(first.banner).group(1)))
        assert created["status"] == "succeeded", created
        ticket_id = created["ticket_id"]
        [assigned] = admin.get("/api/v1/tickets", status="assigned")["items"]
        technician_id = assigned["technician_id"]
        for client, body in [
            (admin, {"type": "ticket.approve_review"}),
            (master, {"type": "ticket.assign", "technician_id": technician_id}),
            (tech, {"type": "ticket.start"}),
            (tech, {"type": "work_session.pause"}),
        ]:
            outcome = client.run({**body, "ticket_id": ticket_id})
            assert outcome["status"] == "succeeded", outcome
        wait_until(
            lambda: _session(admin, ticket_id)["status"] == "running",
            what="the pause to run out and the session to resume by itself",
            timeout=PAUSE_BUDGET + 15,
        )
        for client, body in [
            (tech, {"type": "work_session.stop"}),
            (tech, {"type": "ticket.to_waiting_qc", "note": "done"}),
            (qc, {"type": "ticket.qc_pass"}),
        ]:
            outcome = client.run({**body, "ticket_id": ticket_id})
            assert outcome["status"] == "succeeded", outcome
        assert admin.get(f"/api/v1/tickets/{ticket_id}")["status"] == "done"
    finally:
        first.stop_like_ctrl_c()
    log = first.log_path.read_text()
    assert "Embedded Redis stopped, data kept" in log
    assert "Embedded PostgreSQL stopped, data kept" in log
    assert not (folder / "embedded" / "services.env").exists()

    second = DevStack(folder, run=2).start()
    try:
        second.wait_ready()
        admin = second.client("demo-admin")
        assert admin.get(f"/api/v1/tickets/{ticket_id}")["status"] == "done"
        [resumed] = [t for t in _session(admin, ticket_id)["transitions"] if t["action"] == "resumed"]
        assert resumed["actor_id"] is None  # nobody pressed resume: the budget ran out
        assert admin.get("/api/v1/rules")["config"]["work_session"]["daily_pause_limit_seconds"] == PAUSE_BUDGET
    finally:
        second.stop_like_ctrl_c()


def _status(url: str, auth) -> int | None:
    try:
        return httpx.get(url, auth=auth, timeout=5).status_code
    except httpx.HTTPError:
        return None


def _session(client: LiveClient, ticket_id: int) -> dict:
    [session] = client.get(f"/api/v1/tickets/{ticket_id}/work-sessions")["items"]
    return session
