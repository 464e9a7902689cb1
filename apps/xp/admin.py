from django.contrib import admin

from apps.xp.models import XpEntry


@admin.register(XpEntry)
class XpEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "amount", "ticket", "reference")
    list_filter = ("kind",)
    search_fields = ("reference", "user__username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
