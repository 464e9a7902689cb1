"""Operators' view of webhooks: the webhooks, their deliveries with every attempt, and a redeliver action.

Read-only apart from the action: webhooks are managed through the API (their secrets are shown there once), and
deliveries and attempts are history.
"""

from django.contrib import admin, messages

from apps.common.admin import ReadOnlyMixin
from apps.webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery
from apps.webhooks.redelivery import redeliver


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "url", "event_types", "active", "description", "created_at", "cursor")
    list_filter = ("active",)
    search_fields = ("url", "description")
    ordering = ("-id",)
    # Never the secrets: an admin page is no place to read them.
    fields = ("url", "event_types", "description", "active", "created_at", "secret_rotated_at", "cursor")
    readonly_fields = fields


class AttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "duration_ms", "response_status", "error", "response_excerpt")
    readonly_fields = fields
    ordering = ("number",)
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "webhook",
        "event_position",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "redelivery",
        "finished_at",
    )
    list_filter = ("status", "event_type", "webhook")
    search_fields = ("=event_id", "=event_position")
    search_help_text = "Event id or position"
    list_select_related = ("webhook",)
    ordering = ("-id",)
    show_full_result_count = False
    inlines = [AttemptInline]
    fields = [field.name for field in WebhookDelivery._meta.fields]
    readonly_fields = fields
    actions = ["redeliver_selected"]

    @admin.action(description="Redeliver the selected deliveries' events")
    def redeliver_selected(self, request, queryset):
        queued = 0
        for webhook_id, event_id in queryset.values_list("webhook_id", "event_id").distinct():
            queued += redeliver(Webhook.objects.get(pk=webhook_id), event_id=event_id)
        skipped = queryset.count() - queued
        note = f" ({skipped} still pending or already queued: not doubled)" if skipped > 0 else ""
        self.message_user(request, f"Queued {queued} new deliveries{note}.", messages.SUCCESS)
