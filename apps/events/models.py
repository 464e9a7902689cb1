"""The event log: one immutable row per change, appended in the transaction that makes the change (the outbox).

`position` comes from the table's identity sequence; which positions a reader may be served is decided by the
feed's horizon (apps/events/feed.py), not by the order rows happen to commit in.
"""

import uuid

from django.db import models
from django.db.models import Func
from django.db.models.functions import Now

from apps.common.append_only import AppendOnlyModel


class EventType(models.TextChoices):
    TICKET_CREATED = "ticket.created"
    TICKET_REVIEW_APPROVED = "ticket.review_approved"
    TICKET_ASSIGNED = "ticket.assigned"
    TICKET_STARTED = "ticket.started"
    TICKET_TO_WAITING_QC = "ticket.to_waiting_qc"
    TICKET_QC_PASS = "ticket.qc_pass"
    TICKET_QC_FAIL = "ticket.qc_fail"
    TICKET_PART_SPECS_CHANGED = "ticket.part_specs_changed"
    TICKET_MANUAL_METRICS_SET = "ticket.manual_metrics_set"
    TICKET_MANUAL_METRICS_CLEARED = "ticket.manual_metrics_cleared"
    TICKET_METRICS_RECOMPUTED = "ticket.metrics_recomputed"
    WORK_SESSION_STARTED = "work_session.started"
    WORK_SESSION_PAUSED = "work_session.paused"
    WORK_SESSION_RESUMED = "work_session.resumed"
    WORK_SESSION_STOPPED = "work_session.stopped"
    XP_AWARDED = "xp.awarded"
    COMMAND_REJECTED = "command.rejected"
    COMMAND_FAILED = "command.failed"
    RULES_CHANGED = "rules.changed"


class TransactionIdField(models.Field):
    """PostgreSQL's `xid8`: the 64-bit id of the transaction that inserted the row (never wraps around)."""

    def db_type(self, connection) -> str:
        return "xid8"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)


class CurrentTransactionId(Func):
    function = "pg_current_xact_id"
    template = "%(function)s()"
    output_field = TransactionIdField()


class Event(AppendOnlyModel):
    position = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, choices=EventType.choices)
    occurred_at = models.DateTimeField(help_text="the change's effective instant")
    recorded_at = models.DateTimeField(db_default=Now(), help_text="PostgreSQL's clock when the row was inserted")
    ticket_id = models.BigIntegerField(null=True, blank=True)
    technician_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    command_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict)
    # Which events one transaction committed together (diagnostics, the invariant checker); not the feed's order.
    transaction_id = TransactionIdField(db_default=CurrentTransactionId(), editable=False)

    class Meta:
        db_table = "event"
        indexes = [
            models.Index(fields=["type", "position"], name="event_type_idx"),
            models.Index(fields=["ticket_id", "position"], name="event_ticket_idx"),
            models.Index(fields=["technician_id", "position"], name="event_technician_idx"),
            models.Index(fields=["recorded_at"], name="event_recorded_at_idx"),  # retention
        ]
        constraints = [
            models.CheckConstraint(name="event_type_known", condition=models.Q(type__in=EventType.values)),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type}"
