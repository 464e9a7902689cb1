"""GET /api/v1/analytics/...: read models over the histories (admin, master and service users; a technician may
read their own days)."""

from datetime import date, datetime

from django.http import JsonResponse
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from apps.accounts.api import user_or_404
from apps.accounts.models import Role
from apps.analytics import people, tickets, timeline
from apps.analytics.ranges import DEFAULT_DAYS, MAX_DAYS, DayRange, requested_range
from apps.common import time as clock
from apps.common.api import DAY_FORMAT
from apps.common.problems import Problem
from apps.common.time import isoformat_utc
from apps.rules.selectors import active_rules

router = Router(tags=["analytics"])

RANGE_RULES = (
    f"Local dates in the rules' time zone ({DAY_FORMAT}), inclusive; default the last {DEFAULT_DAYS} days, today "
    f"included; at most {MAX_DAYS} days, `from` not after `to`, else `422`."
)


class RangeQuery(Schema):
    from_: str | None = Field(None, alias="from", max_length=32, description="the first local date (YYYY-MM-DD)")
    to: str | None = Field(None, max_length=32, description="the last local date (YYYY-MM-DD)")


class LeaderboardQuery(RangeQuery):
    limit: int = Field(10, ge=1, le=100)


class TechnicianAnalyticsOut(Schema):
    model_config = ConfigDict(title="TechnicianAnalytics")
    technician_id: int
    active_seconds: float
    paused_seconds: float
    auto_resumes: int
    sessions: int = Field(..., description="sessions running or paused at some point in the range")
    tickets_done: int
    first_pass_rate: float | None = Field(..., ge=0, le=1)
    qc_fails: int = Field(..., description="`qc_fail` transitions in the range on tickets the technician held")
    xp: int


class TechniciansAnalyticsOut(Schema):
    model_config = ConfigDict(title="TechniciansAnalytics")
    from_: date = Field(..., alias="from")
    to: date
    timezone: str
    items: list[TechnicianAnalyticsOut]


class TimelineIntervalOut(Schema):
    model_config = ConfigDict(title="TimelineInterval")
    status: str = Field(..., description="running or paused", pattern="^(running|paused)$")
    start: datetime
    end: datetime
    ticket_id: int
    work_session_id: int


class TechnicianDayOut(Schema):
    model_config = ConfigDict(title="TechnicianDay")
    date: date
    active_seconds: float
    paused_seconds: float
    pause_limit_seconds: int
    auto_resumes: int
    intervals: list[TimelineIntervalOut]


class TechnicianDaysOut(Schema):
    model_config = ConfigDict(title="TechnicianDays")
    technician_id: int
    timezone: str
    items: list[TechnicianDayOut]


class StageCycleOut(Schema):
    model_config = ConfigDict(title="StageCycle")
    n: int
    p50: float | None
    p90: float | None


class CycleSecondsOut(Schema):
    model_config = ConfigDict(title="CycleSeconds")
    review: StageCycleOut
    assignment: StageCycleOut
    start: StageCycleOut
    work: StageCycleOut
    qc: StageCycleOut
    total: StageCycleOut


class FlagCountsOut(Schema):
    model_config = ConfigDict(title="FlagCounts")
    green: int
    yellow: int
    red: int


class TicketsDayOut(Schema):
    model_config = ConfigDict(title="TicketsDay")
    date: date
    created: int
    done: int


class TicketsAnalyticsOut(Schema):
    model_config = ConfigDict(title="TicketsAnalytics")
    created: int
    done: int
    by_status: dict[str, int] = Field(..., description="every status, now")
    by_flag: FlagCountsOut = Field(..., description="tickets created in the range, by their flag now")
    first_pass_rate: float | None
    rework_rate: float | None = Field(..., description="the share of the range's QC decisions that were `qc_fail`")
    cycle_seconds: CycleSecondsOut
    per_day: list[TicketsDayOut]


class LeaderboardEntryOut(Schema):
    model_config = ConfigDict(title="LeaderboardEntry")
    technician_id: int
    xp: int
    tickets_done: int
    first_pass_rate: float | None


class LeaderboardOut(Schema):
    model_config = ConfigDict(title="Leaderboard")
    items: list[LeaderboardEntryOut]


@router.get(
    "/technicians",
    response=TechniciansAnalyticsOut,
    by_alias=True,
    operation_id="getTechniciansAnalytics",
    summary="Each technician's work over a range of local days",
    description=RANGE_RULES,
)
def technicians_analytics(request, query: Query[RangeQuery]):
    require_reader(request.user)
    span, now = _span(query)
    return {
        "from": span.first,
        "to": span.last,
        "timezone": span.timezone,
        "items": [
            {**vars(row), "active_seconds": seconds(row.active_seconds), "paused_seconds": seconds(row.paused_seconds)}
            for row in people.technicians_summary(span, now=now)
        ],
    }


@router.get(
    "/technicians/{int:technician_id}/days",
    response=TechnicianDaysOut,
    operation_id="getTechnicianDays",
    summary="A technician's days: running and paused time and the timeline, cut at local midnight",
    description=RANGE_RULES + " An open session counts up to the moment of the read.",
)
def technician_days(request, technician_id: int, query: Query[RangeQuery]):
    require_reader(request.user, own_days_of=technician_id)
    user_or_404(technician_id)
    span, now = _span(query)
    days = timeline.technician_days(technician_id, span, now=now)
    # Thousands of intervals for a month: written straight out (their shape is the schema's by construction), since
    # validating each one again against the schema would take longer than reading them.
    return JsonResponse(
        {"technician_id": technician_id, "timezone": span.timezone, "items": [day_data(d) for d in days]}
    )


@router.get(
    "/tickets",
    response=TicketsAnalyticsOut,
    operation_id="getTicketsAnalytics",
    summary="Tickets over a range: counts, flags, QC outcomes, stage cycle times, per day",
    description=RANGE_RULES + " " + tickets.STAGES_DESCRIPTION,
)
def tickets_analytics(request, query: Query[RangeQuery]):
    require_reader(request.user)
    span, _now = _span(query)
    figures = tickets.tickets_summary(span)
    return {
        **vars(figures),
        "cycle_seconds": {stage: vars(cycle) for stage, cycle in figures.cycle_seconds.items()},
        "per_day": [{"date": day, "created": created, "done": done} for day, created, done in figures.per_day],
    }


@router.get(
    "/leaderboard",
    response=LeaderboardOut,
    operation_id="getLeaderboard",
    summary="Everyone who earned XP in a range, most XP first",
    description=RANGE_RULES,
)
def leaderboard(request, query: Query[LeaderboardQuery]):
    require_reader(request.user)
    span, _now = _span(query)
    return {"items": [vars(entry) for entry in people.leaderboard(span, limit=query.limit)]}


def require_reader(user, *, own_days_of: int | None = None) -> None:
    if user.is_service or user.has_role(Role.ADMIN, Role.MASTER):
        return
    if own_days_of is not None and user.pk == own_days_of and user.has_role(Role.TECHNICIAN):
        return
    allowed = "admins, masters and service users" + (", and a technician their own days" if own_days_of else "")
    raise Problem(403, "forbidden", f"analytics are for {allowed}")


def day_data(day: timeline.Day) -> dict:
    return {
        "date": day.day.day.isoformat(),
        "active_seconds": seconds(day.active),
        "paused_seconds": seconds(day.paused),
        "pause_limit_seconds": day.pause_limit_seconds,
        "auto_resumes": len(day.auto_resumes),
        "intervals": [
            {
                "status": piece.status,
                "start": isoformat_utc(piece.interval.start),
                "end": isoformat_utc(piece.interval.end),
                "ticket_id": piece.ticket_id,
                "work_session_id": piece.work_session_id,
            }
            for piece in day.intervals
        ],
    }


def seconds(value) -> float:
    """Seconds with their microseconds (a timedelta or an exact Decimal from SQL)."""
    total = value.total_seconds() if hasattr(value, "total_seconds") else value
    return round(float(total), 6)


def _span(query: RangeQuery) -> tuple[DayRange, datetime]:
    now = clock.database_now()
    timezone = active_rules().config.work_session.timezone
    return requested_range(query.from_, query.to, timezone=timezone, now=now), now
