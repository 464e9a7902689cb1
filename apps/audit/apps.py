from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The invariant checker (`check_invariants`): reads every app's tables, so it sits above them all."""

    name = "apps.audit"
    label = "audit"
