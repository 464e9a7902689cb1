"""The dashboard's charts as inline SVG, drawn by pygal on the server: no script, nothing fetched (works offline)."""

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

from apps.analytics.tickets import STAGES, Cycle

RUNNING, PAUSED, AUTO_RESUME = "#5b9e5b", "#e0a526", "#ba2121"
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333333",
    foreground_strong="#333333",
    foreground_subtle="#999999",
    colors=("#417690", "#79aec8", RUNNING, PAUSED, AUTO_RESUME, "#666666"),
    font_family="-apple-system, 'Segoe UI', system-ui, Roboto, 'Helvetica Neue', Arial, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    value_font_size=11,
    legend_font_size=12,
    title_font_size=14,
)
COMMON = {
    "style": STYLE,
    "js": [],  # pygal would link its tooltip script from a CDN
    "disable_xml_declaration": True,
    "width": 640,
    "height": 320,
    "explicit_size": False,  # scales with its container (viewBox only)
    "legend_at_bottom": True,
    "print_values": False,
    "no_data_text": "nothing in this range",
}


def pause_budget_chart(rows: list[tuple[str, float, int]]) -> SafeString:
    """(technician, minutes paused on the day, the day's limit in minutes): used and what was left of the limit."""
    budget = {**COMMON, "style": Style(**{**STYLE.to_dict(), "colors": (PAUSED, "#e8e8e8")})}
    chart = pygal.HorizontalStackedBar(**budget, title="Pause budget used (minutes)", show_legend=True)
    chart.x_labels = [name for name, _used, _limit in rows]
    chart.add("used", [round(used, 1) for _name, used, _limit in rows])
    chart.add("left", [round(max(limit - used, 0), 1) for _name, used, limit in rows])
    return _svg(chart)


def status_chart(by_status: dict[str, int]) -> SafeString:
    chart = pygal.Bar(**COMMON, title="Tickets by status (now)", show_legend=False, truncate_label=-1)
    chart.x_labels = [status.replace("_", " ") for status in by_status]
    chart.add("tickets", list(by_status.values()))
    return _svg(chart)


def cycle_chart(cycles: dict[str, Cycle]) -> SafeString:
    chart = pygal.Bar(**COMMON, title="Stage cycle times (minutes)")
    chart.x_labels = list(STAGES)
    for name in ("p50", "p90"):
        values = [getattr(cycles[stage], name) for stage in STAGES]
        chart.add(name, [None if value is None else round(value / 60, 1) for value in values])
    return _svg(chart)


def first_pass_chart(per_day: list[tuple]) -> SafeString:
    """(date, done, first pass) per day: the share in percent, a gap where nothing was done."""
    chart = pygal.Line(
        **COMMON,
        title="First-pass rate, last 30 days (%)",
        show_legend=False,
        range=(0, 100),
        allow_interruptions=True,
        x_label_rotation=30,
        show_minor_x_labels=False,
    )
    chart.x_labels = [day.strftime("%b %d") for day, _done, _first in per_day]
    chart.x_labels_major = chart.x_labels[::5]
    chart.add("first pass", [round(100 * first / done, 1) if done else None for _day, done, first in per_day])
    return _svg(chart)


def leaderboard_chart(rows: list[tuple[str, int]]) -> SafeString:
    chart = pygal.HorizontalBar(**COMMON, title="XP leaderboard", show_legend=False)
    chart.x_labels = [name for name, _xp in rows]
    chart.add("XP", [xp for _name, xp in rows])
    return _svg(chart)


def _svg(chart) -> SafeString:
    # pygal escapes the labels and values it writes; the SVG is ours to inline.
    return mark_safe(chart.render(is_unicode=True))
