from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_default_rules(**_signal_kwargs) -> None:
    """A database always has active rules: version 1 with the defaults, if it has none (also after a flush)."""
    from apps.rules.config import DEFAULT_CONFIG
    from apps.rules.models import RulesVersion

    if not RulesVersion.objects.exists():
        RulesVersion.objects.create(version=1, config=DEFAULT_CONFIG, reason="defaults")


class RulesConfig(AppConfig):
    name = "apps.rules"
    label = "rules"

    def ready(self):
        post_migrate.connect(ensure_default_rules, sender=self, dispatch_uid="ticketflow-default-rules")
