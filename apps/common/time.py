"""Time helpers. Services take `at=`/`now=`; only the outermost layers read a clock.

Two clocks, two jobs (DESIGN.md, event time): PostgreSQL's stamps everything that enters history and accounting,
so hosts whose clocks drift can never reorder or stretch a history; a host's (`utc_now`) only schedules wake-ups,
measures lateness for metrics and shows live figures. Callers read PostgreSQL's as `clock.database_now()` (module
attribute), so tests can stand it still with the host's (tests/support/clock.py).
"""

from datetime import UTC, datetime

from apps.common.db import prepared_cursor


def database_now() -> datetime:
    """PostgreSQL's clock, now."""
    with prepared_cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def utc_now() -> datetime:
    """This host's clock: never for history (see above)."""
    return datetime.now(UTC)


def isoformat_utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
