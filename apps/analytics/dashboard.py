"""/ops/shop-floor/: the shop floor on one page for staff (Django admin sign-in), in the rules' time zone.

The day's timeline is one bar per technician (running, paused, automatic resumes marked), drawn here as SVG
geometry; the other charts are pygal's (charts.py). Every figure comes from the analytics read models, so the page
and the API always agree.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from apps.accounts.models import User
from apps.analytics import charts, people, tickets, timeline
from apps.analytics.ranges import DayRange, day_range, pause_limits, requested_range
from apps.common import time as clock
from apps.common.problems import Problem
from apps.rules.selectors import active_rules
from apps.ticket import pause_budget

TIMELINE_WIDTH = 1000  # the SVG's user units across one local day
FIRST_PASS_DAYS = 30
LEADERBOARD_SIZE = 10


@staff_member_required
def shop_floor(request):
    now = clock.database_now()
    timezone = active_rules().config.work_session.timezone
    error = None
    try:
        span = requested_range(request.GET.get("from"), request.GET.get("to"), timezone=timezone, now=now)
    except Problem as problem:
        error = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in problem.errors or []) or problem.detail
        span = requested_range(None, None, timezone=timezone, now=now)
    context = {
        **admin.site.each_context(request),
        "title": "Shop floor",
        "span": span,
        "error": error,
        **_day_panel(span, now=now),
        **_range_panel(span, now=now),
    }
    return render(request, "analytics/shop_floor.html", context, status=400 if error else 200)


def _day_panel(span: DayRange, *, now) -> dict:
    """The range's last day (today by default): one timeline per technician who worked, and their pause budgets."""
    (day,) = span.days[-1:]
    (limit,) = pause_limits([day])
    steps = timeline.steps_in(day.start, day.end, now=now)
    by_technician: dict[int, list[timeline.Step]] = {}
    for step in steps:
        by_technician.setdefault(step.technician_id, []).append(step)
    names = _names(by_technician)
    rows = []
    for technician_id, own in sorted(by_technician.items(), key=lambda item: names[item[0]]):
        cut = timeline.cut_day(day, limit, own, now=now)
        rows.append(_timeline_row(names[technician_id], cut, ZoneInfo(span.timezone)))
    budget = [(row["name"], row["paused_seconds"] / 60, limit / 60) for row in rows]
    return {
        "day": day,
        "hours": _hour_ticks(day, ZoneInfo(span.timezone)),
        "timelines": rows,
        "pause_limit_minutes": limit // 60,
        "budget_chart": charts.pause_budget_chart(budget),
    }


def _range_panel(span: DayRange, *, now) -> dict:
    figures = tickets.tickets_summary(span)
    last_30 = day_range(span.last - timedelta(days=FIRST_PASS_DAYS - 1), span.last, span.timezone)
    board = people.leaderboard(span, limit=LEADERBOARD_SIZE)
    names = _names(entry.technician_id for entry in board)
    return {
        "tickets": figures,
        "status_chart": charts.status_chart(figures.by_status),
        "cycle_chart": charts.cycle_chart(figures.cycle_seconds),
        "first_pass_chart": charts.first_pass_chart(tickets.first_pass_per_day(last_30)),
        "leaderboard_chart": charts.leaderboard_chart([(names[e.technician_id], e.xp) for e in board]),
    }


def _timeline_row(name: str, day: timeline.Day, zone: ZoneInfo) -> dict:
    length = day.day.end - day.day.start

    def x(instant) -> float:
        return round(TIMELINE_WIDTH * ((instant - day.day.start) / length), 2)

    def local(instant) -> str:
        return instant.astimezone(zone).strftime("%H:%M:%S")

    return {
        "name": name,
        "active": _clock(day.active),
        "paused": _clock(day.paused),
        "paused_seconds": day.paused.total_seconds(),
        "segments": [
            {
                "status": piece.status,
                "x": x(piece.interval.start),
                "width": max(x(piece.interval.end) - x(piece.interval.start), 0.5),
                "title": f"{piece.status} {local(piece.interval.start)} to {local(piece.interval.end)}, "
                f"ticket #{piece.ticket_id}",
            }
            for piece in day.intervals
        ],
        "auto_resumes": [{"x": x(at), "title": f"automatic resume at {local(at)}"} for at in day.auto_resumes],
    }


def _hour_ticks(day: pause_budget.LocalDay, zone: ZoneInfo) -> list[dict]:
    """A tick every three local hours after midnight (a 23- or 25-hour day has its own spacing)."""
    length = day.end - day.start
    ticks, instant = [], day.start
    while instant < day.end:
        local = instant.astimezone(zone)
        if local.minute == 0 and local.hour % 3 == 0 and instant > day.start:
            ticks.append({"x": round(TIMELINE_WIDTH * ((instant - day.start) / length), 2), "label": f"{local:%H}:00"})
        instant += timedelta(hours=1)
    return ticks


def _clock(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}"


def _names(ids) -> dict[int, str]:
    return dict(User.objects.filter(pk__in=list(ids)).values_list("pk", "username"))
