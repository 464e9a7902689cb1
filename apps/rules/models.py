from django.conf import settings
from django.db import models
from django.db.models import Q
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


class RederivationJob(models.TextChoices):
    TICKET_METRICS = "ticket_metrics"
    PAUSE_DEADLINES = "pause_deadlines"


class RulesRederivation(AppendOnlyModel):
    """A background re-derivation that finished under a rules version. Append-only, one per (version, job): beat
    re-queues a job the latest version still lacks some seconds after it was made (workers/rules.py)."""

    # No FOREIGN KEY in the database: versions are never deleted (append-only), and one would make TRUNCATE of
    # rules_version fail on the reference before its own append-only guard could refuse it.
    rules_version = models.ForeignKey(
        RulesVersion, on_delete=models.DO_NOTHING, db_constraint=False, related_name="rederivations"
    )
    job = models.CharField(max_length=32, choices=RederivationJob.choices)
    finished_at = models.DateTimeField(db_default=Now())  # PostgreSQL's clock

    class Meta:
        db_table = "rules_rederivation"
        constraints = [
            models.UniqueConstraint(fields=["rules_version", "job"], name="rules_rederivation_once"),
            models.CheckConstraint(name="rules_rederivation_job_known", condition=Q(job__in=RederivationJob.values)),
        ]

    def __str__(self) -> str:
        return f"{self.job} under rules {self.rules_version_id}"
