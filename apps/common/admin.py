"""Admin pieces shared by every app's admin."""


class ReadOnlyMixin:
    """Viewable, never added, changed or deleted here (works for model admins and inlines alike)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
