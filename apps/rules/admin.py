from django.contrib import admin

from apps.rules.models import RulesVersion


@admin.register(RulesVersion)
class RulesVersionAdmin(admin.ModelAdmin):
    """Rules history, read-only: changes go through PUT /api/v1/rules so the re-derivation jobs run."""

    list_display = ("version", "created_at", "created_by", "reason")
    readonly_fields = ("version", "config", "created_at", "created_by", "reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
