from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from apps.common.append_only import AppendOnlyModel
from apps.rules.config import DEFAULT_CONFIG


def default_config() -> dict:
    return dict(DEFAULT_CONFIG)


class RulesVersion(AppendOnlyModel):
    """One version of the shop's rules. Append-only: a change is a new row; the highest version is active."""

    version = models.PositiveIntegerField(unique=True)
    config = models.JSONField(default=default_config)
    created_at = models.DateTimeField(db_default=Now())  # PostgreSQL's clock: a rules change enters accounting
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        db_table = "rules_version"
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"rules v{self.version}"
