"""Time in tests: the suite's reference instant, UTC instants, and the clocks frozen at an instant.

A step run `at_instant` has both clocks the code reads frozen at the same instant the service is given as
`at=`/`now=`: the host's (time-machine) and PostgreSQL's as the code reads it (`apps.common.time.database_now`, the
sweeps, the ETA task, an automatic resume's `applied_at`). Defaults and triggers inside PostgreSQL keep the real time.
"""

from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar
from unittest import mock
from zoneinfo import ZoneInfo

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


def next_local_midnight(instant: datetime, zone: str = "UTC") -> datetime:
    """The start of the local day after `instant`'s, as a UTC instant (pause budgets are per local day)."""
    next_day = instant.astimezone(ZoneInfo(zone)).date() + timedelta(days=1)
    return datetime.combine(next_day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def first_pause_runs_out(paused_at: datetime, limit: timedelta, zone: str = "UTC") -> datetime:
    """When a technician's first pause of the day exhausts the daily budget: at midnight the new day's whole limit
    takes over. Worked out here, not by the product's pause_budget, so a test run near midnight checks it too."""
    midnight = next_local_midnight(paused_at, zone)
    return paused_at + limit if paused_at + limit <= midnight else midnight + limit
