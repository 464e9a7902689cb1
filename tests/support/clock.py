"""Time in tests: the suite's reference instant, UTC instants, and the clocks frozen at an instant.

A step run `at_instant` has both clocks the code reads frozen at the same instant the service is given as
`at=`/`now=`: the host's (time-machine) and PostgreSQL's as the code reads it (`apps.common.time.database_now`, the
sweeps, the ETA task, an automatic resume's `applied_at`). Defaults and triggers inside PostgreSQL keep the real time.
"""

from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar
from unittest import mock

import time_machine

from apps.common import time as clock

T = TypeVar("T")

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def nov26(hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An instant of T0's day, 2026-11-26, in UTC."""
    return utc(2026, 11, 26, hour, minute, second)


@contextmanager
def frozen(instant: datetime):
    """The host's clock and the code's readings of PostgreSQL's stand still at `instant` for the block."""
    with time_machine.travel(instant, tick=False), mock.patch.object(clock, "database_now", return_value=instant):
        yield instant


def at_instant(instant: datetime, call: Callable[[datetime], T]) -> T:
    """Run `call(instant)` with the clock frozen at `instant`."""
    with frozen(instant):
        return call(instant)
