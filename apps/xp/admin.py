from django.contrib import admin

from apps.common.admin import ReadOnlyMixin
from apps.xp.models import XpEntry


@admin.register(XpEntry)
class XpEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "amount", "ticket", "reason", "reference")
    list_filter = ("kind",)
    search_fields = ("reference", "user__username", "reason")
