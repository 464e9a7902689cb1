from django.contrib import admin

from apps.common.admin import ReadOnlyMixin
from apps.rules.models import RulesVersion


@admin.register(RulesVersion)
class RulesVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Rules history, read-only: changes go through PUT /api/v1/rules so the re-derivation jobs run."""

    list_display = ("version", "created_at", "created_by", "reason")
    readonly_fields = ("version", "config", "created_at", "created_by", "reason")
