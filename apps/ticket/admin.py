"""Admin for tickets and work sessions.

Status, metrics and history belong to the services, so the admin shows them read-only: changes go through
commands. The admin's only workflow write is approving reviews from the review queue, through the same service
`ticket.approve_review` commands, queued through the command pipeline.
"""

from django.contrib import admin, messages
from django.db.models import F
from django.db.models.functions import Now

from apps.accounts.models import Role
from apps.commands.intake import submit_command
from apps.common.admin import ReadOnlyMixin, clock_time
from apps.common.problems import Problem
from apps.common.time import utc_now
from apps.ticket.models import (
    SessionStatus,
    Ticket,
    TicketPartSpec,
    TicketReviewQueue,
    TicketTransition,
    WorkSession,
    WorkSessionTransition,
)

# --- inlines ----------------------------------------------------------------------------------------------


class PartSpecInline(ReadOnlyMixin, admin.TabularInline):
    model = TicketPartSpec
    fields = ("inventory_item_part", "color", "minutes", "comment", "created_at", "deleted_at")
    extra = 0

    def get_queryset(self, request):
        # Active specs first; replaced ones (soft-deleted) after them, newest replacement first.
        return (
            super()
            .get_queryset(request)
            .select_related("inventory_item_part")
            .order_by(F("deleted_at").desc(nulls_first=True), "id")
        )


class OrderedInline(ReadOnlyMixin, admin.TabularInline):
    """A read-only list of related rows in the order they happened, with the named user loaded in the same query."""

    extra = 0
    order_by: tuple[str, ...] = ()
    related: str = "actor"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(self.related).order_by(*self.order_by)


class TicketTransitionInline(OrderedInline):
    model = TicketTransition
    fields = ("created_at", "action", "from_status", "to_status", "actor", "note", "metadata")
    order_by = ("created_at", "id")


class SessionTimes:
    """A session's active time as h:mm:ss, twice: "active" as stored, which counts up to the session's latest event,
    and "active (live)", where a running span counts up to now (the API's `live_active_seconds`)."""

    @admin.display(description="active", ordering="active_seconds")
    def active_time(self, obj: WorkSession) -> str:
        return clock_time(obj.active_seconds)

    @admin.display(description="active (live)")
    def live_active_time(self, obj: WorkSession) -> str:
        if obj.status != SessionStatus.RUNNING:
            return clock_time(obj.active_seconds)  # no span is open: the stored figure is the live one
        return clock_time(obj.recalculate_active_seconds(until=utc_now()))


class WorkSessionInline(SessionTimes, OrderedInline):
    model = WorkSession
    fields = ("technician", "status", "started_at", "ended_at", "active_time", "live_active_time", "auto_resume_at")
    readonly_fields = ("active_time", "live_active_time")
    show_change_link = True
    order_by = ("started_at", "id")
    related = "technician"


class WorkSessionTransitionInline(OrderedInline):
    model = WorkSessionTransition
    fields = ("event_at", "action", "from_status", "to_status", "actor", "metadata")
    order_by = ("event_at", "id")


# --- tickets ----------------------------------------------------------------------------------------------

TICKET_SEARCH_FIELDS = (
    "id__exact",
    "title",
    "inventory_item__serial_number",
    "inventory_item__name",
    "technician__username",
    "master__username",
)
TICKET_FIELDSETS = (
    (None, {"fields": ("title", "inventory_item", "status", "master", "technician")}),
    ("Workflow", {"fields": ("approved_by", "approved_at", "assigned_at", "started_at", "finished_at")}),
    ("Metrics", {"fields": ("total_duration", "flag_minutes", "flag_color", "xp_amount", "is_manual")}),
    ("Record", {"fields": ("created_at", "updated_at", "deleted_at")}),
)
TICKET_SERVICE_FIELDS = tuple(
    field for _, options in TICKET_FIELDSETS for field in options["fields"] if field != "title"
)


class TicketColumns:
    @admin.display(description="total duration", ordering="total_duration")
    def total_minutes(self, obj: Ticket) -> str:
        return f"{obj.total_duration} min"


@admin.register(Ticket)
class TicketAdmin(TicketColumns, admin.ModelAdmin):
    """Tickets. Only the title is editable: status and metrics change through commands, so history stays whole."""

    list_display = (
        "id",
        "title",
        "inventory_item",
        "status",
        "technician",
        "flag_color",
        "total_minutes",
        "xp_amount",
        "is_manual",
        "updated_at",
    )
    list_display_links = ("id", "title")
    list_filter = (
        "status",
        "flag_color",
        "is_manual",
        ("technician", admin.RelatedOnlyFieldListFilter),
        ("deleted_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("inventory_item", "technician")
    search_fields = TICKET_SEARCH_FIELDS
    search_help_text = "Ticket id, title, item serial number or name, technician or master username"
    ordering = ("-id",)
    fieldsets = TICKET_FIELDSETS
    readonly_fields = TICKET_SERVICE_FIELDS
    inlines = [PartSpecInline, TicketTransitionInline, WorkSessionInline]

    def has_add_permission(self, request):
        return False  # `ticket.create` checks the item, its parts and that it has no other active ticket

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Write only what this form owns, so a concurrent command's status or metrics change is never overwritten.
        obj.updated_at = Now()
        obj.save(update_fields=["title", "updated_at"])


@admin.register(TicketReviewQueue)
class TicketReviewQueueAdmin(TicketColumns, ReadOnlyMixin, admin.ModelAdmin):
    """Tickets waiting for an admin's review, oldest first, with the action that approves them."""

    list_display = (
        "id",
        "title",
        "inventory_item",
        "master",
        "total_minutes",
        "flag_color",
        "xp_amount",
        "created_at",
    )
    list_display_links = ("id", "title")
    list_filter = ("flag_color", ("master", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("inventory_item", "master")
    search_fields = TICKET_SEARCH_FIELDS
    ordering = ("created_at", "id")
    fieldsets = TICKET_FIELDSETS
    readonly_fields = ("title", *TICKET_SERVICE_FIELDS)
    inlines = [PartSpecInline, TicketTransitionInline]
    actions = ["approve_review"]

    def get_queryset(self, request):
        return self.model.domain.under_review().order_by(*self.get_ordering(request))

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Review queue", **(extra_context or {})})

    def has_approve_permission(self, request) -> bool:
        # The same rule as the `ticket.approve_review` command: the admin role, not merely Django staff.
        return request.user.has_role(Role.ADMIN)

    @admin.action(description="Approve review (queues ticket.approve_review commands)", permissions=["approve"])
    def approve_review(self, request, queryset):
        """Bulk approval goes through the command pipeline, like any upstream system: ordered, logged, counted."""
        queued, refused = [], []
        for ticket_id in queryset.values_list("pk", flat=True):
            try:
                submit_command(
                    submitter=request.user,
                    body={"type": "ticket.approve_review", "ticket_id": ticket_id},
                    idempotency_key=None,
                )
            except Problem as exc:
                refused.append(f"#{ticket_id}: {exc.detail}")
                continue
            queued.append(ticket_id)
        if queued:
            self.message_user(
                request,
                f"Queued approval of {_ticket_list(queued)}; outcomes appear in Commands within a moment.",
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, f"Not queued: {reason}", messages.ERROR)


def _ticket_list(ticket_ids: list[int]) -> str:
    noun = "ticket" if len(ticket_ids) == 1 else "tickets"
    return f"{noun} " + ", ".join(f"#{ticket_id}" for ticket_id in ticket_ids)


@admin.register(TicketPartSpec)
class TicketPartSpecAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Part specs change as a set through `ticket.set_part_specs`, which re-derives the ticket's metrics."""

    list_display = ("id", "ticket", "inventory_item_part", "color", "minutes", "created_at", "deleted_at")
    list_filter = ("color", ("deleted_at", admin.EmptyFieldListFilter))
    list_select_related = ("ticket", "inventory_item_part")
    search_fields = ("ticket__id__exact", "inventory_item_part__name", "inventory_item__serial_number")
    ordering = ("-id",)


class AutoResumeFilter(admin.SimpleListFilter):
    """Paused sessions whose budget ran out but that no job has resumed yet: the sweep should catch them soon."""

    title = "auto-resume"
    parameter_name = "auto_resume"

    def lookups(self, request, model_admin):
        return [("overdue", "overdue"), ("scheduled", "scheduled")]

    def queryset(self, request, queryset):
        now = utc_now()
        if self.value() == "overdue":
            return queryset.filter(pk__in=WorkSession.domain.paused_due(now))
        if self.value() == "scheduled":
            return queryset.filter(pk__in=WorkSession.domain.paused().filter(auto_resume_at__gt=now))
        return queryset


@admin.register(WorkSession)
class WorkSessionAdmin(SessionTimes, ReadOnlyMixin, admin.ModelAdmin):
    """Sessions and their history. `active_seconds` is derived from the history, so nothing here is editable."""

    list_display = (
        "id",
        "ticket",
        "technician",
        "status",
        "started_at",
        "ended_at",
        "active_time",
        "live_active_time",
        "auto_resume_at",
    )
    list_filter = ("status", AutoResumeFilter, ("technician", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("ticket", "technician")
    search_fields = ("id__exact", "ticket__id__exact", "technician__username")
    search_help_text = "Session id, ticket id or technician username"
    ordering = ("-started_at", "-id")
    fields = (
        "ticket",
        "technician",
        "status",
        "started_at",
        "ended_at",
        "active_time",
        "live_active_time",
        "auto_resume_at",
        "updated_at",
        "deleted_at",
    )
    readonly_fields = fields
    inlines = [WorkSessionTransitionInline]


# --- history (append-only) ------------------------------------------------------------------------------


@admin.register(TicketTransition)
class TicketTransitionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "ticket", "action", "from_status", "to_status", "actor", "note")
    list_filter = ("action", "to_status")
    list_select_related = ("ticket", "actor")
    search_fields = ("ticket__id__exact", "actor__username", "note")
    ordering = ("-created_at", "-id")


@admin.register(WorkSessionTransition)
class WorkSessionTransitionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "event_at", "session", "action", "from_status", "to_status", "actor")
    list_filter = ("action",)
    list_select_related = ("session", "actor")
    search_fields = ("session__id__exact", "session__ticket__id__exact", "actor__username")
    ordering = ("-event_at", "-id")
