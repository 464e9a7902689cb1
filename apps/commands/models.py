import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Min, Q
from django.db.models.functions import Now

# A service's clock may run a little ahead of PostgreSQL's; further ahead is a mistake, refused (API.md).
OCCURRED_AT_MAX_AHEAD_SECONDS = 2


class CommandStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"


class CommandQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=CommandStatus.PENDING)

    def oldest_pending_in_lane(self, lane: str):
        return self.pending().filter(lane=lane).order_by("seq")

    def stale_lanes(self, older_than):
        """(lane, its oldest pending command's submitted_at) for lanes with a command still pending since before
        `older_than` (its queue message may be lost), the longest-waiting first."""
        return (
            self.pending()
            .filter(submitted_at__lt=older_than)
            .values("lane")
            .annotate(oldest=Min("submitted_at"))
            .order_by("oldest")
            .values_list("lane", "oldest")
        )

    def visible_to(self, user):
        return self if user.has_role("admin") else self.filter(submitter=user)


class Command(models.Model):
    """The durable inbox: one row per accepted command, applied by a worker, never deleted.

    `lane` orders application: `ticket:<id>` for commands on a ticket, `item:<id>` for `ticket.create`.
    `seq` is the acceptance order within the whole inbox, hence within each lane.
    """

    seq = models.BigAutoField(primary_key=True)
    id = models.UUIDField("ID", default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    lane = models.CharField(max_length=64)
    ticket_id = models.BigIntegerField(
        "ticket ID", null=True, blank=True, help_text="the target (set by ticket.create on success)"
    )
    inventory_item_id = models.BigIntegerField("inventory item ID", null=True, blank=True)
    # Not indexed alone: command_submitter_idx leads with it (one index fewer for every accepted command to write).
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body")
    status = models.CharField(max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    # Event time (DESIGN.md): instants from PostgreSQL's clock, never a host's.
    submitted_at = models.DateTimeField(db_default=Now(), help_text="stored at (PostgreSQL's clock)")
    occurred_at = models.DateTimeField(db_default=Now(), help_text="pressed at: submitted_at unless a service said")
    effective_at = models.DateTimeField(
        null=True, blank=True, help_text="judged as of: occurred_at, clamped up to the ticket's latest instant"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    # X-Request-ID of the HTTP request that stored it: the worker's log lines about the command carry it too.
    request_id = models.CharField("request ID", max_length=128, null=True, blank=True)

    objects = CommandQuerySet.as_manager()

    class Meta:
        db_table = "command"
        indexes = [
            # The only index of pending commands. A lane's next commands are read from it on every command; the
            # sweep, /metrics and the audit read it whole (its rows carry submitted_at). A second one, by age, was
            # chosen for the lane's read whenever the statistics dated from a moment with nothing pending (both
            # then look empty): under a backlog every read scanned all of it.
            models.Index(
                fields=["lane", "seq"],
                include=["submitted_at"],
                condition=Q(status="pending"),
                name="command_pending_idx",
            ),
            models.Index(fields=["submitter", "seq"], name="command_submitter_idx"),
            models.Index(fields=["ticket_id", "seq"], name="command_ticket_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["submitter", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="command_idempotency_key_per_submitter",
            ),
            models.CheckConstraint(name="command_status_known", condition=Q(status__in=CommandStatus.values)),
            models.CheckConstraint(
                name="command_finished_iff_final",
                condition=Q(status="pending", finished_at__isnull=True)
                | Q(~Q(status="pending"), finished_at__isnull=False),
            ),
            models.CheckConstraint(
                name="command_effective_iff_judged",
                condition=Q(status__in=["succeeded", "rejected"], effective_at__isnull=False)
                | Q(status__in=["pending", "failed"], effective_at__isnull=True),
            ),
            models.CheckConstraint(
                name="command_effective_not_before_occurred", condition=Q(effective_at__gte=F("occurred_at"))
            ),
            models.CheckConstraint(
                name="command_occurred_not_ahead",
                condition=Q(occurred_at__lte=F("submitted_at") + timedelta(seconds=OCCURRED_AT_MAX_AHEAD_SECONDS)),
            ),
            models.CheckConstraint(
                name="command_error_iff_refused",
                condition=Q(status__in=["rejected", "failed"], error_code__gt="")
                | Q(status__in=["pending", "succeeded"], error_code=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} [{self.status}]"

    @property
    def is_final(self) -> bool:
        return self.status != CommandStatus.PENDING
