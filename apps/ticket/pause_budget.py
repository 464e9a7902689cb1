"""Pure time arithmetic for work sessions and the daily pause budget. No database, no clock.

Instants are aware datetimes compared as UTC instants: durations are differences of instants, never of wall
clocks, so 23- and 25-hour DST days come out right. The rules' zone only decides where local days begin and end:
a local day is the half-open interval [00:00, next 00:00).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ZERO = timedelta(0)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None  # None: still open

    def __post_init__(self):
        # Python subtracts two datetimes of one zone by wall clock; in UTC that is real time.
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))

    def overlap(self, lo: datetime, hi: datetime, *, now: datetime | None = None) -> timedelta:
        clipped = self.clipped(lo, hi, now=now)
        return clipped.end - clipped.start if clipped is not None else ZERO

    def clipped(self, lo: datetime, hi: datetime, *, now: datetime | None = None) -> "Interval | None":
        """The part of this interval inside [lo, hi) (an open one measured up to `now`), or None if nothing is."""
        if self.end is not None and lo <= self.start < self.end <= hi:
            return self  # most steps of a day's timeline lie inside it: nothing to cut, nothing to build
        end = self.end if self.end is not None else now
        if end is None:
            raise ValueError("an open interval needs `now` to be measured")
        start, end = max(self.start, as_utc(lo)), min(end, as_utc(hi))
        return Interval(start, end) if end > start else None


@dataclass(frozen=True)
class Event:
    """One step of a session's history: the status it moved to, and when."""

    to_status: str
    at: datetime

    def __post_init__(self):
        object.__setattr__(self, "at", as_utc(self.at))


def as_utc(instant: datetime | None) -> datetime | None:
    if instant is None or instant.tzinfo is UTC:  # read from PostgreSQL in UTC already: the common case
        return instant
    return instant.astimezone(UTC)


def local_day_of(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day as UTC instants."""
    (bounds,) = local_days(day, day, zone)
    return bounds.start, bounds.end


@dataclass(frozen=True)
class LocalDay:
    day: date
    start: datetime  # UTC
    end: datetime  # UTC, exclusive: the next day's start


def local_days(first: date, last: date, zone: ZoneInfo) -> list[LocalDay]:
    """Every local day from `first` to `last` inclusive, with its bounds: the one place days are cut, for the pause
    budget and the analytics alike, so the two can never disagree about where a day ends."""
    count = (last - first).days + 1
    starts = [_local_midnight(first + timedelta(days=n), zone) for n in range(count + 1)]
    return [LocalDay(first + timedelta(days=n), starts[n], starts[n + 1]) for n in range(count)]


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # Where a zone skips 00:00 (DST at midnight), fold=0 maps the missing wall time to the first instant of the day.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def intervals_in_status(events: Sequence[Event], status: str) -> list[Interval]:
    """The intervals a session spent in `status`, from its ordered history."""
    spans = []
    for current, following in zip(events, [*events[1:], None], strict=True):
        if current.to_status == status:
            spans.append(Interval(current.at, following.at if following else None))
    return spans


def total_duration(intervals: Iterable[Interval], *, until: datetime | None = None) -> timedelta:
    total = ZERO
    for span in intervals:
        end = span.end if span.end is not None else until
        if end is not None:
            total += max(ZERO, end - span.start)
    return total


def used_in_day(pauses: Iterable[Interval], day: date, zone: ZoneInfo, *, now: datetime) -> timedelta:
    lo, hi = local_day_bounds(day, zone)
    return sum((p.overlap(lo, hi, now=now) for p in pauses), ZERO)


def remaining_in_day(
    pauses: Iterable[Interval], day: date, zone: ZoneInfo, *, limit: timedelta, now: datetime
) -> timedelta:
    return max(ZERO, limit - used_in_day(pauses, day, zone, now=now))


def exhaustion_instant(
    *, paused_at: datetime, limit: timedelta, zone: ZoneInfo, earlier_pauses: Iterable[Interval]
) -> datetime:
    """The first instant at which a pause starting at `paused_at` leaves no budget in the current local day.

    `earlier_pauses` are the technician's other (closed) pauses. If the pause reaches local midnight first, the
    new day's budget takes over, so the answer may be `midnight + what is left of the new day`. If nothing is
    left at `paused_at`, the answer is `paused_at` itself.
    """
    if limit >= timedelta(hours=23):
        raise ValueError("a daily limit of 23 hours or more would never run out on a short day")
    earlier = [p for p in earlier_pauses if p.end is not None]
    cursor = as_utc(paused_at)
    while True:
        day = local_day_of(cursor, zone)
        day_start, day_end = local_day_bounds(day, zone)
        used = sum((p.overlap(day_start, day_end) for p in earlier), ZERO)
        remaining = limit - used
        if remaining <= ZERO or cursor + remaining < day_end:
            return cursor + max(remaining, ZERO)
        cursor = day_end
