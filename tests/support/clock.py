"""Time in tests: the suite's reference instant, UTC instants, and the process clock frozen at an instant.

A step run `at_instant` has the process clock frozen (time-machine) at the same instant the service is given as
`at=`/`now=`, so code that reads the clock (rules rows' `created_at`, the sweeps, the ETA task) agrees with it.
"""

from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

import time_machine

T = TypeVar("T")

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def nov26(hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An instant of T0's day, 2026-11-26, in UTC."""
    return utc(2026, 11, 26, hour, minute, second)


@contextmanager
def frozen(instant: datetime):
    """The process clock stands still at `instant` for the block."""
    with time_machine.travel(instant, tick=False):
        yield instant


def at_instant(instant: datetime, call: Callable[[datetime], T]) -> T:
    """Run `call(instant)` with the clock frozen at `instant`."""
    with frozen(instant):
        return call(instant)
