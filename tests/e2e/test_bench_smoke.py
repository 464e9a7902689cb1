"""`make bench-smoke` runs green: the benchmark harness, with tiny sizes, starts its own stack, runs every scenario
with no error and no failed check, and cleans up after itself. A harness that rots is found here, not on the day
someone needs figures."""

import os

import psycopg
import pytest
from django.conf import settings

from tests.support.logs import ROOT
from tests.support.processes import run_python

pytestmark = pytest.mark.e2e


def committed_outputs() -> dict:
    """The files a full run writes; a smoke run must not touch them."""
    paths = [ROOT / "BENCHMARKS.md", *sorted((ROOT / "bench" / "results").glob("*.json"))]
    return {path: path.stat().st_mtime_ns for path in paths if path.exists()}


def test_the_benchmark_smoke_run_passes_and_leaves_nothing_behind():
    db_name = f"ticketflow_bench_smoke_{settings.RUN_ID}"
    before = committed_outputs()
    result = run_python(
        "bench/run.py",
        "--smoke",
        "--db-name",
        db_name,
        "--redis-db",
        "12",
        env=dict(os.environ),
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "ticketflow benchmarks (smoke)" in result.stdout
    assert committed_outputs() == before

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [db_name + "%"]).fetchall()
    assert left == []
