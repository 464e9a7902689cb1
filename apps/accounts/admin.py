from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone

from apps.accounts.models import ApiToken, Role, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "role_names", "is_service", "is_staff", "is_active")
    list_filter = ("is_service", "is_staff", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("ticketflow", {"fields": ("roles", "is_service")}))

    @admin.display(description="roles", ordering="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(Role(role).label for role in obj.roles) or "-"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "user", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("user", "hint", "created_at")
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are issued by `manage.py create_api_user`, which shows the raw value once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
