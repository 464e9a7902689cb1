"""What every scenario gets: the stack, the run's parameters, the staff and data builder, and the progress display."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from rich.progress import Progress

from bench.data import Builder, Staff, stand_in_for_autovacuum
from bench.loadgen import STOP
from bench.stack import Stack

STALL_SECONDS = 60  # give up waiting for commands to be applied once none has been for this long


@dataclass(frozen=True)
class Params:
    tickets: int = 500  # scenario 1: K tickets per phase, six commands each
    clients: int = 32  # C concurrent HTTP clients (scenario 1 and the /healthz baseline)
    sessions: int = 200  # scenario 3: N paused sessions per phase
    spread_seconds: float = 20  # ... whose deadlines fall over this many seconds
    pause_limit_seconds: int = 10  # the daily pause budget while scenario 3 runs
    scale: tuple[int, ...] = (10_000, 100_000)  # scenario 4: paused sessions and active tickets
    web_workers: int = 2  # gunicorn gthread, as the Procfile
    web_threads: int = 16
    worker_concurrency: int = 4
    noop_tasks: int = 5000
    healthz_seconds: float = 10
    pgbench_scale: int = 10
    pgbench_seconds: int = 10
    list_requests: int = 400
    list_clients: int = 4
    query_repeats: int = 200
    analytics: tuple[int, ...] = (10_000, 100_000)  # scenario 6: tickets (ten session transitions each)
    analytics_requests: int = 100  # per endpoint and range
    feed: tuple[int, ...] = (100_000, 1_000_000)  # scenario 7: events stored
    feed_requests: int = 1000  # per size
    webhook_backlog: int = 3000  # scenario 8: events recorded at once, then delivered
    webhook_paced_seconds: float = 20  # ... then recorded at half the delivery rate for this long
    webhook_wait_seconds: float = 300  # give up waiting for deliveries after this long

    @classmethod
    def smoke(cls) -> "Params":
        return cls(
            tickets=20,
            clients=4,
            web_workers=1,  # a guest on a shared PostgreSQL: every gunicorn thread keeps a connection open
            web_threads=4,
            sessions=10,
            spread_seconds=3,
            pause_limit_seconds=2,
            scale=(1000, 2000),
            noop_tasks=300,
            healthz_seconds=2,
            pgbench_scale=1,
            pgbench_seconds=1,
            list_requests=40,
            query_repeats=20,
            analytics=(500, 1000),
            analytics_requests=10,
            feed=(5000, 10_000),  # above what the other scenarios record
            feed_requests=40,
            webhook_backlog=40,
            webhook_paced_seconds=1,
            webhook_wait_seconds=60,
        )

    def with_overrides(self, **overrides) -> "Params":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Context:
    stack: Stack
    params: Params
    staff: Staff
    builder: Builder
    progress: Progress

    def say(self, message: str) -> None:
        self.progress.console.print(message)

    def settle(self, timeout: float = 600) -> float:
        """Wait until the worker has drained every queued message (a phase's leftovers: the messages of commands
        an earlier message's drain already applied, stale nudges), so the next phase starts from an idle worker,
        on tables autovacuum would have kept (`stand_in_for_autovacuum`). Returns the seconds waited."""
        started = time.monotonic()
        backlog = self.stack.queued()
        if backlog:
            with self.bar("waiting for the queues to drain", backlog) as bar:
                while (left := self.stack.queued()) and time.monotonic() - started < timeout:
                    bar.set(backlog - min(left, backlog))
                    time.sleep(0.2)
        time.sleep(0.5)  # the last message's task finishes
        stand_in_for_autovacuum()
        return round(time.monotonic() - started, 1)

    @contextmanager
    def bar(self, description: str, total: float) -> Iterator["Bar"]:
        task = self.progress.add_task(description, total=total)
        try:
            yield Bar(self.progress, task)
        finally:
            self.progress.stop_task(task)


@dataclass
class Bar:
    progress: Progress
    task: int

    def set(self, completed: float, total: float | None = None) -> None:
        self.progress.update(self.task, completed=completed, total=total)


def wait_until_applied(commands, total: int, bar: Bar, *, poll_seconds: float) -> int:
    """Poll until `total` of `commands` (a Command queryset) are no longer pending, showing progress on `bar`;
    give up once none has been applied for STALL_SECONDS (the caller reports what is missing), or on Ctrl-C.
    Returns how many were applied."""
    done, progressed = 0, time.monotonic()
    while done < total and time.monotonic() - progressed < STALL_SECONDS and not STOP.is_set():
        time.sleep(poll_seconds)
        now_done = commands.exclude(status="pending").count()
        if now_done > done:
            done, progressed = now_done, time.monotonic()
        bar.set(done)
    return done
