from django.contrib import admin
from django.utils.html import format_html

from apps.commands.models import Command
from apps.common.admin import ReadOnlyMixin, indented_json


class ErrorFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request, model_admin):
        codes = Command.objects.exclude(error_code="").values_list("error_code", flat=True).distinct()
        return [(code, code) for code in sorted(codes)]

    def queryset(self, request, queryset):
        return queryset.filter(error_code=self.value()) if self.value() else queryset


COMMAND_FIELDS = [field.name for field in Command._meta.fields]


@admin.register(Command)
class CommandAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The command browser: every command accepted, its outcome and its error. Read-only: the inbox is history."""

    list_display = (
        "submitted_at",
        "type",
        "status_badge",
        "ticket_id",
        "actor",
        "attempts",
        "error_code",
        "finished_at",
    )
    list_filter = ("status", "type", ErrorFilter)
    search_fields = ("=id", "=ticket_id", "=inventory_item_id", "idempotency_key", "submitter__username")
    search_help_text = "Command id, ticket id, item id, idempotency key or submitter username"
    list_select_related = ("actor", "submitter")
    ordering = ("-seq",)
    show_full_result_count = False  # counting a large inbox on every page view is wasteful
    # Every field, read-only; the JSON ones indented so a payload or an outcome can be read at a glance.
    fields = [f"{name}_json" if name in ("payload", "result") else name for name in COMMAND_FIELDS]
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_json(self, obj):
        return indented_json(obj.payload)

    @admin.display(description="result")
    def result_json(self, obj):
        return indented_json(obj.result)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colors = {"succeeded": "#2e7d32", "rejected": "#b26a00", "failed": "#c62828", "pending": "#555"}
        return format_html('<b style="color:{}">{}</b>', colors.get(obj.status, "#555"), obj.status)
