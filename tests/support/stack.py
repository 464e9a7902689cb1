"""A whole ticketflow stack for one fault test: gunicorn, a Celery worker, beat(s), on a private Redis and a
database of its own in a private PostgreSQL cluster.

The processes are real and run as in production (DJANGO_DEBUG=0). `close()` ends every process the stack started.
"""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.conf import settings

from tests.support.logs import tail
from tests.support.processes import Beat, Web, Worker, process_env, run_python, wait_until
from tests.support.servers import PrivatePostgres, PrivateRedis

PENDING_GAUGE = re.compile(r"^ticketflow_commands_pending (\S+)$", re.MULTILINE)
REQUEUED = re.compile(r'"msg": "re-queued stale lanes".*?"lanes": (\d+)')


class Stack:
    def __init__(
        self, name: str, *, redis: PrivateRedis, postgres: PrivatePostgres, database_url: str, timers_worker=False
    ):
        self.name, self.redis, self.postgres = name, redis, postgres
        self.env = process_env(
            REDIS_URL=redis.url,
            DATABASE_URL=database_url,
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=f"fault-tests-only-{settings.RUN_ID}-0123456789abcdefghijklmnopqrstuvwxyz",
            SECURE_SSL_REDIRECT="0",
            SECURE_HSTS_SECONDS="0",
        )
        tag = f"fault-{name}-{settings.RUN_ID}"
        self.web = Web(f"{tag}-web", self.env)
        # With `timers_worker`, the timers queue gets a worker of its own (README: "under heavy load").
        queues = [settings.CELERY_QUEUE_COMMANDS, settings.CELERY_QUEUE_MAINTENANCE]
        if not timers_worker:
            queues.insert(1, settings.CELERY_QUEUE_TIMERS)
        self.worker = Worker(f"{tag}-worker", env=self.env, queues=queues, broker_url=redis.url)
        self.timers_worker = None
        if timers_worker:
            self.timers_worker = Worker(
                f"{tag}-timers",
                env=self.env,
                queues=[settings.CELERY_QUEUE_TIMERS],
                concurrency=2,
                broker_url=redis.url,
            )
        self.beats: list[Beat] = []
        self.tag = tag
        self.seeded: dict = {}

    # --- processes ---------------------------------------------------------------------------------

    def start(self, *, seed_tickets: int, beat: bool = True) -> "Stack":
        """Launch web, workers and beat and seed the tickets all at once (a cold start is mostly imports)."""
        self.web.start()
        workers = [w for w in (self.worker, self.timers_worker) if w is not None]
        for worker in workers:
            worker.start(wait=False)
        if beat:
            self.start_beat()
        with ThreadPoolExecutor(1) as pool:
            seeding = pool.submit(self.seed, seed_tickets)
            self.web.wait_ready()
            for worker in workers:
                worker.wait_ready()
            seeding.result()
        return self

    def start_beat(self) -> Beat:
        beat = Beat(name=f"{self.tag}-beat{len(self.beats)}", env=self.env).start()
        self.beats.append(beat)
        return beat

    def kill_worker(self) -> None:
        self.worker.kill()

    def restart_worker(self) -> None:
        self.worker.start()

    def restart_timers_worker(self) -> None:
        self.timers_worker.start()

    def close(self) -> None:
        """Kill everything: the test is over, and nothing a process does on its way out is under test."""
        for process in (*self.beats, self.worker, self.timers_worker, self.web):
            if process is not None:
                process.kill()

    # --- data and inspection -----------------------------------------------------------------------

    def tool(self, command: str, args: dict | None = None) -> dict:
        """Run `python -m tests.support.tool <command>` against the stack's database (tests/support/tool.py)."""
        result = run_python("-m", "tests.support.tool", command, env=self.env, input=json.dumps(args or {}))
        return json.loads(result.stdout.strip().splitlines()[-1])

    def seed(self, tickets: int) -> dict:
        self.seeded = self.tool("seed", {"prefix": self.name, "tickets": tickets})
        return self.seeded

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.web.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def pending(self) -> int | None:
        """Commands not final yet, from /metrics (None while the database cannot say)."""
        try:
            text = httpx.get(f"{self.web.url}/metrics", timeout=10).text
        except httpx.HTTPError:
            return None
        match = PENDING_GAUGE.search(text)
        return int(float(match.group(1))) if match else None

    def wait_settled(self, timeout: float) -> float:
        """Wait until no command is pending; returns how long that took."""
        started = time.monotonic()
        wait_until(lambda: self.pending() == 0, what="every command to be final", timeout=timeout, interval=0.25)
        return time.monotonic() - started

    def requeued_lanes(self) -> int:
        """How many lane messages beat's stale sweep re-sent (from the worker's log: the sweep runs there)."""
        log = self.worker.log_path.read_text(errors="replace") if self.worker.log_path.exists() else ""
        return sum(int(n) for n in REQUEUED.findall(log))

    def process_logs(self) -> str:
        processes = [p for p in (self.web, self.worker, self.timers_worker, *self.beats) if p is not None]
        return "\n".join(f"--- {p.log_path.name}\n{tail(p.log_path, 20)}" for p in processes)
