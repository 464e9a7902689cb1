from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.append_only import AppendOnlyModel


class XpKind(models.TextChoices):
    TICKET_BASE_XP = "ticket_base_xp", "Ticket base XP"
    TICKET_FIRST_PASS_BONUS = "ticket_first_pass_bonus", "Ticket first-pass bonus"
    QC_STATUS_UPDATE = "qc_status_update", "QC status update"
    MANUAL_ADJUSTMENT = "manual_adjustment", "Manual adjustment"


# xp.adjust's bounds (API.md); the ledger refuses a manual adjustment outside them too.
MAX_ADJUSTMENT = 1000
MAX_REASON_LENGTH = 500


class XpEntry(AppendOnlyModel):
    """One award in the append-only XP ledger. `reference` is unique, so a replayed award is refused.

    Awards earned on tickets are positive; an admin's manual adjustment may take XP away, and says why (`reason`).
    """

    # Not indexed alone: xp_entry_user_idx leads with it (one index fewer for every award to write).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="xp_entries", db_index=False
    )
    kind = models.CharField(max_length=32, choices=XpKind.choices)
    amount = models.IntegerField()
    reference = models.CharField(max_length=128, unique=True)
    ticket = models.ForeignKey("ticket.Ticket", null=True, on_delete=models.PROTECT, related_name="xp_entries")
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=MAX_REASON_LENGTH, null=True, blank=True, help_text="manual adjustments only")

    class Meta:
        db_table = "xp_entry"
        verbose_name = "XP entry"
        verbose_name_plural = "XP entries"
        indexes = [models.Index(fields=["user", "created_at"], name="xp_entry_user_idx")]
        constraints = [
            models.CheckConstraint(name="xp_entry_kind_known", condition=Q(kind__in=XpKind.values)),
            models.CheckConstraint(
                name="xp_entry_amount_fits_kind",
                condition=Q(kind=XpKind.MANUAL_ADJUSTMENT, amount__gte=-MAX_ADJUSTMENT, amount__lte=MAX_ADJUSTMENT)
                & ~Q(amount=0)
                | ~Q(kind=XpKind.MANUAL_ADJUSTMENT) & Q(amount__gte=0),
            ),
            # `reason__isnull=False` spelled out: a CHECK whose test is NULL passes, and `NULL > ''` is NULL.
            models.CheckConstraint(
                name="xp_entry_reason_iff_manual",
                condition=Q(kind=XpKind.MANUAL_ADJUSTMENT, reason__isnull=False, reason__gt="")
                | ~Q(kind=XpKind.MANUAL_ADJUSTMENT) & Q(reason__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} → {self.user_id}"
