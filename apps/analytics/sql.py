"""The one way the analytics run their SQL: in a read transaction with PostgreSQL's JIT compiler off.

The planner prices these statements (a week's histories, aggregated) above `jit_above_cost`, and compiling them
costs more than running them: on the benchmark's month of history, 2.2 s against 0.36 s for a 30-day technicians
summary, 167 ms against 64 ms for the default week (BENCHMARKS.md).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def reading() -> Iterator:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield cursor
