from django.contrib import admin

from apps.common.admin import ReadOnlyMixin, indented_json
from apps.rules.models import RulesVersion


@admin.register(RulesVersion)
class RulesVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Rules history, read-only: changes go through PUT /api/v1/rules so the re-derivation jobs run."""

    list_display = ("version", "created_at", "created_by", "reason")
    fields = ("version", "config_json", "created_at", "created_by", "reason")
    readonly_fields = fields

    @admin.display(description="config")
    def config_json(self, obj):
        return indented_json(obj.config)
