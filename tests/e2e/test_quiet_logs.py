"""An idle stack is quiet, and an exception that ends a Celery process is one JSON record.

Real processes: the session's worker and a beat on this run's queues log nothing about the every-second sweeps and
send Flower no events for them (while they demonstrably run); a beat and a worker that die of an exception write
its traceback once, inside one JSON record's `exc`, not as hundreds of one-fragment lines."""

import json
import time

import pytest
import redis
from celery import current_app
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from apps.common.tasks import TaskName
from tests.support import processes
from tests.support.events import EventRecorder
from tests.support.processes import (
    Beat,
    ProcessTree,
    free_port,
    node_name,
    process_env,
    wait_until,
    worker_argv,
)
from workers.schedule import periodic_jobs, register_periodic_tasks
from workers.sweeps import SWEEPS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = 6


def new_lines(process: ProcessTree, since: int) -> list[str]:
    return process.log_path.read_text(errors="replace").splitlines()[since:]


def line_count(process: ProcessTree) -> int:
    return len(process.log_path.read_text(errors="replace").splitlines()) if process.log_path.exists() else 0


def json_records(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_an_idle_worker_and_beat_log_nothing_about_the_sweeps_and_send_no_events_for_them(worker):
    register_periodic_tasks()
    beat = Beat(name=f"e2e-quiet-beat-{settings.RUN_ID}")
    worker_start, beat_start = line_count(worker), line_count(beat)

    with EventRecorder() as recorder:
        beat.start()
        try:
            wait_until(lambda: "beat: Starting" in beat.log_tail(), what="beat started", timeout=60, process=beat)
            time.sleep(IDLE_SECONDS)
            control = current_app.send_task(TaskName.PRUNE_IDEMPOTENCY_KEYS, queue=settings.CELERY_QUEUE_MAINTENANCE)
            recorder.wait_for(control.id, "task-succeeded")
        finally:
            beat.stop()  # beat saves each job's run count as it stops

    # The sweeps ran: beat fired the every-second one again and again, and the worker took every message.
    every_second = next(job for job in periodic_jobs() if job.every_seconds == 1)
    assert PeriodicTask.objects.get(name=every_second.name).total_run_count >= IDLE_SECONDS - 1
    broker = redis.Redis.from_url(settings.REDIS_URL)
    wait_until(
        lambda: not any(broker.llen(queue) for queue in processes.test_queues()), what="queues drained", timeout=10
    )

    # ... yet no event about them reached Flower's side of the broker, while the control task's did.
    assert {"task-received", "task-started", "task-succeeded"} <= set(recorder.of_task(control.id))
    sweep_events = [event for event in recorder.events if event.get("name") in SWEEPS]
    assert [(e["type"], e["name"]) for e in sweep_events] == []

    # ... and no line from Celery about them: beat wrote only its start, the worker only lines about other tasks.
    beat_records = json_records(new_lines(beat, beat_start))
    assert [record["msg"] for record in beat_records] == ["beat: Starting..."]
    # (A sweep that did something logs it, under its own logger: a leftover of an earlier test may give it work.)
    celery_records = [r for r in json_records(new_lines(worker, worker_start)) if r["logger"].startswith("celery.")]
    assert not [r["msg"] for r in celery_records if any(sweep in r["msg"] for sweep in SWEEPS)]
    assert len([r for r in celery_records if control.id in r["msg"]]) == 2


def assert_one_record_carries_the_traceback(lines: list[str], error: str) -> dict:
    """The traceback of `error` is written once, in one JSON record's `exc`; nothing of it outside JSON."""
    records = json_records(lines)
    with_traceback = [record for record in records if "exc" in record]
    assert len(with_traceback) == 1, lines
    (record,) = with_traceback
    assert record["level"] == "CRITICAL"
    assert record["exc"].startswith("Traceback (most recent call last):") and error in record["exc"]
    raw = [line for line in lines if not line.startswith("{")]
    assert not [line for line in raw if line.startswith(("Traceback", "  File ")) or error in line], raw
    assert not [r for r in records if "exc" not in r and r["msg"].startswith(("Traceback", "  File "))], records
    return record


def test_an_exception_that_ends_beat_is_one_json_record():
    """Beat's scheduler cannot reach its database: beat logs the exception and re-raises it, and the process ends."""
    unreachable = f"postgres://postgres@127.0.0.1:{free_port()}/ticketflow"
    beat = Beat(
        name=f"e2e-crashing-beat-{settings.RUN_ID}",
        env=process_env(DATABASE_URL=unreachable, DATABASE_CONNECT_TIMEOUT="2"),
    )
    start = line_count(beat)
    beat.start()
    try:
        wait_until(lambda: not beat.running, what="beat to exit", timeout=60)
    finally:
        beat.stop()
    lines = new_lines(beat, start)

    assert beat.proc.returncode != 0
    record = assert_one_record_carries_the_traceback(lines, "OperationalError")
    assert record["logger"] == "celery.beat"
    exits = [r for r in json_records(lines) if r["msg"] == "uncaught exception, the process exits"]
    assert len(exits) == 1 and "OperationalError" in exits[0]["error"]


def test_an_exception_that_ends_the_worker_is_one_json_record(tmp_path):
    """The worker's state file cannot be created: the exception escapes the worker and ends the process."""
    name = f"e2e-crashing-worker-{settings.RUN_ID}"
    statedb = tmp_path / "missing-directory" / "worker.state"
    argv = worker_argv(node_name(name), processes.test_queues(), concurrency=1, extra=("--statedb", str(statedb)))
    worker = ProcessTree(name, argv, process_env())
    start = line_count(worker)
    worker.start()
    try:
        wait_until(lambda: not worker.running, what="worker to exit", timeout=60)
    finally:
        worker.stop()
    lines = new_lines(worker, start)

    assert worker.proc.returncode != 0
    record = assert_one_record_carries_the_traceback(lines, "FileNotFoundError")
    assert (record["logger"], record["msg"]) == ("ticketflow", "uncaught exception, the process exits")
