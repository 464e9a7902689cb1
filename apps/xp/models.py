from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.append_only import AppendOnlyModel


class XpKind(models.TextChoices):
    TICKET_BASE_XP = "ticket_base_xp"
    TICKET_FIRST_PASS_BONUS = "ticket_first_pass_bonus"
    QC_STATUS_UPDATE = "qc_status_update"


class XpEntry(AppendOnlyModel):
    """One award in the append-only XP ledger. `reference` is unique, so a replayed award is refused."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="xp_entries")
    kind = models.CharField(max_length=32, choices=XpKind.choices)
    amount = models.PositiveIntegerField()
    reference = models.CharField(max_length=128, unique=True)
    ticket = models.ForeignKey("ticket.Ticket", null=True, on_delete=models.PROTECT, related_name="xp_entries")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "xp_entry"
        indexes = [models.Index(fields=["user", "created_at"], name="xp_entry_user_idx")]
        constraints = [
            models.CheckConstraint(name="xp_entry_kind_known", condition=Q(kind__in=XpKind.values)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} +{self.amount} → {self.user_id}"
