"""The local days an analytics read covers, and the pause limit in force on each.

Days are cut by `pause_budget.local_days`, the function that cuts the pause budget's days, so a day's paused
seconds here and the budget's `used_seconds` are measured over the same instants.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apps.common.api import EARLIEST_DAY, query_day
from apps.common.problems import validation_problem
from apps.rules.config import RulesConfig
from apps.rules.models import RulesVersion
from apps.ticket import pause_budget

DEFAULT_DAYS = 7
MAX_DAYS = 366


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date
    timezone: str
    days: list[pause_budget.LocalDay]

    @property
    def start(self) -> datetime:
        return self.days[0].start

    @property
    def end(self) -> datetime:
        return self.days[-1].end

    def bounds_params(self) -> dict:
        """The days as three parallel arrays, for SQL that joins `unnest(%(days)s, %(starts)s, %(ends)s)`."""
        return {
            "days": [d.day for d in self.days],
            "starts": [d.start for d in self.days],
            "ends": [d.end for d in self.days],
        }


def day_range(first: date, last: date, timezone: str) -> DayRange:
    return DayRange(first, last, timezone, pause_budget.local_days(first, last, ZoneInfo(timezone)))


def requested_range(raw_from: str | None, raw_to: str | None, *, timezone: str, now: datetime) -> DayRange:
    """`from`/`to` of the query, inclusive local dates (default: the last 7 days, today included); 422 for a date
    that is not one, `from` after `to`, or more than 366 days."""
    today = pause_budget.local_day_of(now, ZoneInfo(timezone))
    last = query_day(raw_to, name="to") if raw_to else None
    first = query_day(raw_from, name="from") if raw_from else None
    if last is None:
        last = max(today, first) if first is not None and first > today else today
    if first is None:
        first = max(last - timedelta(days=DEFAULT_DAYS - 1), EARLIEST_DAY)
    if first > last:
        raise validation_problem([{"loc": ["query", "from"], "msg": "must not be after `to`"}])
    if (last - first).days + 1 > MAX_DAYS:
        raise validation_problem([{"loc": ["query", "to"], "msg": f"the range may span at most {MAX_DAYS} days"}])
    return day_range(first, last, timezone)


def pause_limits(days: list[pause_budget.LocalDay]) -> list[int]:
    """The daily pause limit in force at each day's start; before the first rules version, that version's."""
    versions = list(RulesVersion.objects.order_by("created_at", "version").values_list("created_at", "config"))
    made = [created_at for created_at, _config in versions]
    limits = [RulesConfig.model_validate(config).work_session.daily_pause_limit_seconds for _at, config in versions]
    return [limits[max(bisect_right(made, day.start) - 1, 0)] for day in days]
