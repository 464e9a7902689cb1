"""Admin pieces shared by every app's admin, and the admin site's own titles."""

import json
from decimal import Decimal

from django.contrib import admin
from django.utils.html import format_html

admin.site.site_header = "ticketflow administration"
admin.site.site_title = "ticketflow admin"
admin.site.index_title = "Operations"
# The changelists are wide (tickets, commands): the page's whole width goes to the table, not a second menu.
admin.site.enable_nav_sidebar = False


class ReadOnlyMixin:
    """Viewable, never added, changed or deleted here (works for model admins and inlines alike)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def indented_json(value) -> str:
    """A JSON field for reading (a payload, an outcome, a rules config): indented, in a <pre>."""
    if value is None:
        return "-"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def clock_time(seconds: Decimal | float | int | None) -> str:
    """A duration as h:mm:ss, whole seconds (rounded down): what an operator reads, not six decimals."""
    if seconds is None:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
