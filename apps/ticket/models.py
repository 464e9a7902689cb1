"""Ticket workflow and work-session persistence. Model methods own first-level transitions.

Each transition method checks the source state, sets the fields that change together and appends a history row
(kept unsaved until the service persists the aggregate with `save_with_history`). None of them reads the clock:
every one takes `at=`.
"""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.append_only import AppendOnlyModel
from apps.common.errors import DomainError, ErrorCode
from apps.common.one_statement import Insert, Update, save_in_one_statement
from apps.common.time import isoformat_utc
from apps.ticket import pause_budget
from apps.ticket.managers import (
    ACTIVE_TICKET_STATUSES,
    OPEN_SESSION_STATUSES,
    TicketPartSpecQuerySet,
    TicketQuerySet,
    TicketTransitionQuerySet,
    WorkSessionQuerySet,
    WorkSessionTransitionQuerySet,
)

MAX_SPEC_MINUTES = 10080


class Guard:
    """The constraints a command can run into. Row locks and service checks refuse first; these are the last guard
    against races the locks do not cover (two starts for one technician on two tickets)."""

    ONE_ACTIVE_TICKET_PER_ITEM = "ticket_one_active_per_item"
    ONE_ACTIVE_SPEC_PER_PART = "ticket_part_spec_one_active_per_part"
    ONE_OPEN_SESSION_PER_TICKET = "work_session_one_open_per_ticket"
    ONE_OPEN_SESSION_PER_TECHNICIAN = "work_session_one_open_per_technician"
    # Composite foreign keys, created in migration 0002.
    SPEC_PART_BELONGS_TO_ITEM = "ticket_part_spec_part_belongs_to_item"
    SPEC_ITEM_MATCHES_TICKET = "ticket_part_spec_item_matches_ticket"
    # Triggers refusing a history row dated before one already there, created in migration 0004.
    TICKET_HISTORY_IN_ORDER = "ticket_transition_in_order"
    SESSION_HISTORY_IN_ORDER = "work_session_transition_in_order"


# The refusal each guard's violation becomes (apps.common.db.refusing_on_violation): never a 500 or a retry.
REFUSED_BY_GUARD: dict[str, tuple[ErrorCode, str]] = {
    Guard.ONE_ACTIVE_TICKET_PER_ITEM: (
        ErrorCode.ACTIVE_TICKET_EXISTS,
        "the inventory item already has an active ticket",
    ),
    Guard.ONE_ACTIVE_SPEC_PER_PART: (ErrorCode.VALIDATION_ERROR, "a part is listed twice"),
    Guard.ONE_OPEN_SESSION_PER_TICKET: (ErrorCode.TECHNICIAN_BUSY, "the ticket already has an open work session"),
    Guard.ONE_OPEN_SESSION_PER_TECHNICIAN: (
        ErrorCode.TECHNICIAN_BUSY,
        "the technician already has an open work session",
    ),
    Guard.SPEC_PART_BELONGS_TO_ITEM: (ErrorCode.INVALID_PART, "a part does not belong to the ticket's item"),
    Guard.SPEC_ITEM_MATCHES_TICKET: (ErrorCode.INVALID_PART, "a part spec's item is not the ticket's item"),
    Guard.TICKET_HISTORY_IN_ORDER: (ErrorCode.INVALID_TRANSITION, "a ticket event cannot precede the previous one"),
    Guard.SESSION_HISTORY_IN_ORDER: (ErrorCode.INVALID_TRANSITION, "a session event cannot precede the previous one"),
}


class TicketStatus(models.TextChoices):
    UNDER_REVIEW = "under_review", "Under review"
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_QC = "waiting_qc", "Waiting QC"
    REWORK = "rework"
    DONE = "done"


class FlagColor(models.TextChoices):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class TicketAction(models.TextChoices):
    CREATED = "created"
    REVIEW_APPROVED = "review_approved", "Review approved"
    ASSIGNED = "assigned"
    STARTED = "started"
    TO_WAITING_QC = "to_waiting_qc", "To waiting QC"
    QC_PASS = "qc_pass", "QC pass"
    QC_FAIL = "qc_fail", "QC fail"
    PART_SPECS_CHANGED = "part_specs_changed", "Part specs changed"
    MANUAL_METRICS_SET = "manual_metrics_set", "Manual metrics set"
    MANUAL_METRICS_CLEARED = "manual_metrics_cleared", "Manual metrics cleared"


class SessionStatus(models.TextChoices):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class SessionAction(models.TextChoices):
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class HistoryMixin:
    """Keeps history rows appended by transition methods until the aggregate is saved."""

    def _pending_history(self) -> list:
        if not hasattr(self, "_pending"):
            self._pending = []
        return self._pending

    def save_with_history(self, *, update_fields: list[str] | None = None, alongside: Sequence[Update] = ()) -> list:
        """Save the aggregate, then the history rows its transition methods appended, then their events.
        Returns those rows. `alongside`: updates of other rows that go with the change (a ticket's item), which
        depend on none of these rows and which none of them depends on.

        A change to a saved aggregate with one history row — every transition a command makes — goes as one
        statement: the UPDATE, the row, its event and the writes alongside as data-modifying CTEs
        (`save_in_one_statement`), a round trip instead of four. PostgreSQL runs those in no set order, so anything
        else (a new aggregate, several rows of one history, which its order trigger must meet in order) is written
        a statement at a time."""
        from apps.events import payloads, recording  # they build on this module's models

        pending = self._take_pending_history()
        if update_fields and not self._state.adding and len(pending) == 1:
            events = recording.event_rows(payloads.history_event(self, row) for row in pending)
            save_in_one_statement(Update(self, update_fields), *map(Insert, pending), *map(Insert, events), *alongside)
            recording.events_inserted()
            return pending
        self.save(update_fields=update_fields) if update_fields else self.save()
        for row in pending:
            row.save()
        self.record_history_events(pending)
        if alongside:
            save_in_one_statement(*alongside)
        return pending

    def _take_pending_history(self) -> list:
        pending, self._pending = self._pending_history(), []
        for row in pending:
            setattr(row, self.HISTORY_PARENT_FIELD, self)
        return pending

    def record_history_events(self, rows: list) -> None:
        """Every history row is written with its event, here, so no path can write one without the other."""
        from apps.events import payloads, recording  # they build on this module's models

        recording.record_events(payloads.history_event(self, row) for row in rows)


class Ticket(HistoryMixin, models.Model):
    HISTORY_PARENT_FIELD = "ticket"

    inventory_item = models.ForeignKey("inventory.InventoryItem", on_delete=models.PROTECT, related_name="tickets")
    title = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=TicketStatus.choices, default=TicketStatus.UNDER_REVIEW)
    master = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="opened_tickets"
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
        db_index=False,  # ticket_technician_idx (technician, status) serves its lookups: one index fewer to write
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_duration = models.PositiveIntegerField(default=0, help_text="minutes")
    flag_minutes = models.PositiveIntegerField(default=0)
    flag_color = models.CharField(max_length=8, choices=FlagColor.choices, default=FlagColor.GREEN)
    xp_amount = models.PositiveIntegerField("XP amount", default=0)
    is_manual = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TicketQuerySet.as_manager()
    domain = TicketQuerySet.as_manager()

    class Meta:
        db_table = "ticket"
        indexes = [
            models.Index(fields=["status", "id"], name="ticket_status_idx"),
            models.Index(fields=["technician", "status"], name="ticket_technician_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["inventory_item"],
                condition=Q(status__in=ACTIVE_TICKET_STATUSES, deleted_at__isnull=True),
                name=Guard.ONE_ACTIVE_TICKET_PER_ITEM,
            ),
            # Target of the composite foreign key that ties a part spec's item to its ticket's item.
            models.UniqueConstraint(fields=["id", "inventory_item"], name="ticket_id_item_unique"),
            models.CheckConstraint(name="ticket_status_known", condition=_in("status", TicketStatus)),
            models.CheckConstraint(name="ticket_flag_color_known", condition=_in("flag_color", FlagColor)),
            models.CheckConstraint(
                name="ticket_approved_together",
                condition=Q(approved_at__isnull=True, approved_by__isnull=True)
                | Q(approved_at__isnull=False, approved_by__isnull=False),
            ),
            models.CheckConstraint(
                name="ticket_reviewed_before_workflow",
                condition=Q(status__in=["under_review", "new"]) | Q(approved_at__isnull=False),
            ),
            models.CheckConstraint(
                name="ticket_assigned_has_technician",
                condition=Q(status__in=["under_review", "new"]) | Q(technician__isnull=False),
            ),
            models.CheckConstraint(
                name="ticket_done_has_finished_at", condition=~Q(status="done") | Q(finished_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title or self.inventory_item_id} [{self.status}]"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_TICKET_STATUSES

    # --- transitions ------------------------------------------------------------------------------------

    @classmethod
    def open_for_item(cls, item, *, title: str, master, at: datetime, part_spec_count: int) -> "Ticket":
        """A new ticket under review (unsaved), its `created` transition pending until `save_with_history`."""
        ticket = cls(inventory_item=item, title=title, master=master, created_at=at, updated_at=at)
        ticket.add_transition(
            action=TicketAction.CREATED,
            from_status=None,
            to_status=TicketStatus.UNDER_REVIEW,
            actor=master,
            at=at,
            metadata={"part_spec_count": part_spec_count},
            commit=False,
        )
        return ticket

    def approve_review(self, *, actor, at: datetime) -> bool:
        """under_review → new. Approving a `new` ticket is a no-op (returns False)."""
        if self.status == TicketStatus.NEW:
            return False
        self._require_status(TicketStatus.UNDER_REVIEW, action="approve review")
        self.approved_by, self.approved_at = actor, at
        self._move(TicketAction.REVIEW_APPROVED, TicketStatus.NEW, actor=actor, at=at)
        return True

    def assign_to_technician(self, technician, *, actor, at: datetime) -> None:
        self._require_status(
            TicketStatus.NEW,
            TicketStatus.ASSIGNED,
            TicketStatus.REWORK,
            TicketStatus.UNDER_REVIEW,
            action="assign",
        )
        if self.approved_at is None:
            raise DomainError(ErrorCode.REVIEW_REQUIRED, "the ticket must be admin-reviewed before assignment")
        self.technician, self.assigned_at = technician, at
        target = TicketStatus.REWORK if self.status == TicketStatus.REWORK else TicketStatus.ASSIGNED
        self._move(TicketAction.ASSIGNED, target, actor=actor, at=at, metadata={"technician_id": technician.pk})

    def start_progress(self, *, actor, at: datetime) -> None:
        self._require_status(TicketStatus.ASSIGNED, TicketStatus.REWORK, action="start")
        self.require_assigned_technician(actor)
        if self.started_at is None:
            self.started_at = at
        self._move(TicketAction.STARTED, TicketStatus.IN_PROGRESS, actor=actor, at=at)

    def move_to_waiting_qc(self, *, actor, at: datetime, latest_session: "WorkSession | None", note: str = ""):
        self._require_status(TicketStatus.IN_PROGRESS, action="move to waiting QC")
        self.require_assigned_technician(actor)
        if latest_session is not None and latest_session.is_open:
            raise DomainError(ErrorCode.SESSION_NOT_STOPPED, "stop the work session before sending to QC")
        self._move(TicketAction.TO_WAITING_QC, TicketStatus.WAITING_QC, actor=actor, at=at, note=note)

    def mark_qc_pass(self, *, actor, at: datetime, note: str = "") -> "TicketTransition":
        self._require_status(TicketStatus.WAITING_QC, action="pass QC")
        self.finished_at = at
        return self._move(TicketAction.QC_PASS, TicketStatus.DONE, actor=actor, at=at, note=note)

    def mark_qc_fail(self, *, actor, at: datetime, note: str = "") -> "TicketTransition":
        self._require_status(TicketStatus.WAITING_QC, action="fail QC")
        self.finished_at = None
        return self._move(TicketAction.QC_FAIL, TicketStatus.REWORK, actor=actor, at=at, note=note)

    def record_change(self, action: TicketAction, *, actor, at: datetime, metadata: dict | None = None):
        """A change that keeps the status (part specs, manual metrics): only active tickets change."""
        if not self.is_active:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"a {self.status} ticket cannot change")
        return self._move(action, self.status, actor=actor, at=at, metadata=metadata)

    def add_transition(
        self,
        *,
        action: str,
        from_status: str | None,
        to_status: str,
        actor,
        at: datetime,
        note: str = "",
        metadata: dict | None = None,
        commit: bool = True,
    ) -> "TicketTransition":
        row = TicketTransition(
            ticket=self if self.pk else None,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            note=note or "",
            metadata=metadata or {},
            created_at=at,
        )
        if commit:
            row.save()
            self.record_history_events([row])
        else:
            self._pending_history().append(row)
        return row

    def _move(self, action, to_status, *, actor, at, note: str = "", metadata: dict | None = None):
        step = {
            "action": action,
            "from_status": self.status,
            "to_status": to_status,
            "note": note,
            "metadata": metadata,
        }
        self.status, self.updated_at = to_status, at
        return self.add_transition(**step, actor=actor, at=at, commit=False)

    def _require_status(self, *allowed: str, action: str) -> None:
        if self.status not in allowed:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot {action} a ticket in status {self.status}")

    def require_assigned_technician(self, actor) -> None:
        if actor is None or self.technician_id != actor.pk:
            raise DomainError(ErrorCode.NOT_ASSIGNED_TECHNICIAN, "only the assigned technician may do this")

    def require_independent_qc(self, actor, *, policy) -> None:
        """Unless the rules' policy allows it, the ticket's technician may not judge their own work."""
        if not policy.allow_self_qc and actor is not None and actor.pk == self.technician_id:
            raise DomainError(
                ErrorCode.FORBIDDEN, "the ticket's technician may not decide its QC (policy allow_self_qc is off)"
            )

    def require_independent_review(self, actor, *, policy) -> None:
        """Unless the rules' policy allows it, the master who opened the ticket may not approve its review."""
        if not policy.allow_self_approval and actor is not None and actor.pk == self.master_id:
            raise DomainError(
                ErrorCode.FORBIDDEN,
                "the ticket's master may not approve its review (policy allow_self_approval is off)",
            )

    # --- metrics ----------------------------------------------------------------------------------------

    @staticmethod
    def flag_color_from_minutes(minutes: int, *, green_max: int, yellow_max: int) -> str:
        if minutes <= green_max:
            return FlagColor.GREEN
        if minutes <= yellow_max:
            return FlagColor.YELLOW
        return FlagColor.RED

    def apply_auto_metrics(self, spec_minutes: list[int], *, xp_rules) -> None:
        """Derive metrics from the active part specs. A manual override keeps its color and XP."""
        total = sum(spec_minutes)
        self.total_duration = total
        self.flag_minutes = total
        if not self.is_manual:
            self.flag_color = self.flag_color_from_minutes(
                total, green_max=xp_rules.flag_green_max_minutes, yellow_max=xp_rules.flag_yellow_max_minutes
            )
            self.xp_amount = math.ceil(total / xp_rules.base_divisor)

    def apply_manual_metrics(self, *, flag_color: str, xp_amount: int) -> None:
        if flag_color not in FlagColor.values:
            raise DomainError(ErrorCode.VALIDATION_ERROR, f"unknown flag color {flag_color!r}")
        if xp_amount < 0:
            raise DomainError(ErrorCode.VALIDATION_ERROR, "xp_amount must be >= 0")
        self.flag_color, self.xp_amount, self.is_manual = flag_color, xp_amount, True


class TicketPartSpec(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="part_specs")
    # Denormalised from the ticket so PostgreSQL can check, by composite foreign keys, that the part and the
    # ticket belong to the same inventory item (see migration 0002).
    inventory_item = models.ForeignKey("inventory.InventoryItem", on_delete=models.PROTECT, related_name="+")
    inventory_item_part = models.ForeignKey(
        "inventory.InventoryItemPart", on_delete=models.PROTECT, related_name="ticket_specs"
    )
    color = models.CharField(max_length=8, choices=FlagColor.choices)
    minutes = models.PositiveIntegerField()
    comment = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TicketPartSpecQuerySet.as_manager()

    class Meta:
        db_table = "ticket_part_spec"
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "inventory_item_part"],
                condition=Q(deleted_at__isnull=True),
                name=Guard.ONE_ACTIVE_SPEC_PER_PART,
            ),
            models.CheckConstraint(name="ticket_part_spec_color_known", condition=_in("color", FlagColor)),
            models.CheckConstraint(
                name="ticket_part_spec_minutes_range",
                condition=Q(minutes__gte=0, minutes__lte=MAX_SPEC_MINUTES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inventory_item_part_id}: {self.minutes} min {self.color}"


class TicketTransition(AppendOnlyModel):
    # Not indexed alone: ticket_transition_history_idx leads with it (a foreign key's own index is one more for
    # every insert to write, and serves no lookup the composite does not).
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="transitions", db_index=False)
    action = models.CharField(max_length=32, choices=TicketAction.choices)
    from_status = models.CharField(max_length=20, choices=TicketStatus.choices, null=True, blank=True)
    to_status = models.CharField(max_length=20, choices=TicketStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    objects = TicketTransitionQuerySet.as_manager()
    domain = TicketTransitionQuerySet.as_manager()

    class Meta:
        db_table = "ticket_transition"
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="ticket_transition_history_idx")]
        constraints = [
            models.CheckConstraint(name="ticket_transition_action_known", condition=_in("action", TicketAction)),
            models.CheckConstraint(name="ticket_transition_to_known", condition=_in("to_status", TicketStatus)),
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} → {self.to_status}"


class WorkSession(HistoryMixin, models.Model):
    HISTORY_PARENT_FIELD = "session"

    # Neither indexed alone: work_session_ticket_idx and work_session_technician_idx lead with them.
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="work_sessions", db_index=False)
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="work_sessions", db_index=False
    )
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.RUNNING)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    auto_resume_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = WorkSessionQuerySet.as_manager()
    domain = WorkSessionQuerySet.as_manager()

    class Meta:
        db_table = "work_session"
        indexes = [
            # The auto-resume sweep: `status = 'paused' AND auto_resume_at <= now`.
            models.Index(
                fields=["auto_resume_at"],
                condition=Q(status="paused", deleted_at__isnull=True),
                name="work_session_due_resume_idx",
            ),
            models.Index(fields=["technician", "started_at"], name="work_session_technician_idx"),
            models.Index(fields=["ticket", "started_at"], name="work_session_ticket_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(status__in=OPEN_SESSION_STATUSES, deleted_at__isnull=True),
                name=Guard.ONE_OPEN_SESSION_PER_TICKET,
            ),
            models.UniqueConstraint(
                fields=["technician"],
                condition=Q(status__in=OPEN_SESSION_STATUSES, deleted_at__isnull=True),
                name=Guard.ONE_OPEN_SESSION_PER_TECHNICIAN,
            ),
            models.CheckConstraint(name="work_session_status_known", condition=_in("status", SessionStatus)),
            models.CheckConstraint(
                name="work_session_stopped_iff_ended",
                condition=Q(status="stopped", ended_at__isnull=False) | Q(~Q(status="stopped"), ended_at__isnull=True),
            ),
            models.CheckConstraint(
                name="work_session_paused_iff_deadline",
                condition=Q(status="paused", auto_resume_at__isnull=False)
                | Q(~Q(status="paused"), auto_resume_at__isnull=True),
            ),
            models.CheckConstraint(name="work_session_active_nonnegative", condition=Q(active_seconds__gte=0)),
        ]

    def __str__(self) -> str:
        return f"session #{self.pk} of ticket {self.ticket_id} [{self.status}]"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_SESSION_STATUSES

    @classmethod
    def start_for_ticket(cls, ticket: Ticket, *, technician, actor, at: datetime) -> "WorkSession":
        if ticket.status != TicketStatus.IN_PROGRESS:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot open a work session on a {ticket.status} ticket")
        if technician is None or ticket.technician_id != technician.pk:
            raise DomainError(ErrorCode.NOT_ASSIGNED_TECHNICIAN, "only the assigned technician may work on the ticket")
        session = cls(ticket=ticket, technician=technician, status=SessionStatus.RUNNING, started_at=at, updated_at=at)
        session._history = []
        session.add_transition(action=SessionAction.STARTED, to_status=SessionStatus.RUNNING, actor=actor, at=at)
        return session

    def pause(self, *, actor, at: datetime, auto_resume_at: datetime, remaining_seconds: int) -> None:
        self._require_status(SessionStatus.RUNNING, action="pause", at=at)
        self.auto_resume_at = auto_resume_at
        self._move(
            SessionAction.PAUSED,
            SessionStatus.PAUSED,
            actor=actor,
            at=at,
            metadata={
                "remaining_pause_seconds_today": remaining_seconds,
                "auto_resume_at": isoformat_utc(auto_resume_at),
            },
        )

    def resume(self, *, actor, at: datetime, metadata: dict | None = None) -> None:
        self._require_status(SessionStatus.PAUSED, action="resume", at=at)
        self.auto_resume_at = None
        self._move(SessionAction.RESUMED, SessionStatus.RUNNING, actor=actor, at=at, metadata=metadata)

    def stop(self, *, actor, at: datetime) -> None:
        self._require_status(SessionStatus.RUNNING, SessionStatus.PAUSED, action="stop", at=at)
        self.auto_resume_at = None
        self.ended_at = at
        self._move(SessionAction.STOPPED, SessionStatus.STOPPED, actor=actor, at=at)

    def add_transition(self, *, action: str, to_status: str, actor, at: datetime, metadata: dict | None = None):
        """Append a history row (saved with the session) and re-derive the active time from the history."""
        history = self.history()
        row = WorkSessionTransition(
            session=self if self.pk else None,
            action=action,
            from_status=history[-1].to_status if history else None,
            to_status=to_status,
            actor=actor,
            event_at=at,
            metadata=metadata or {},
        )
        history.append(row)
        self._pending_history().append(row)
        self.active_seconds = self.recalculate_active_seconds()
        return row

    def adopt_history(self, rows: list[dict]) -> None:
        """Take the history read with the session's row (`WorkSessionTransition.domain.history_as_read`)."""
        names = [field.attname for field in WorkSessionTransition._meta.concrete_fields]
        self._history = [
            WorkSessionTransition.from_db(
                self._state.db,
                names,
                [datetime.fromisoformat(row[name]) if name == "event_at" else row[name] for name in names],
            )
            for row in rows
        ]

    def history(self) -> list["WorkSessionTransition"]:
        if getattr(self, "_history", None) is None:
            self._history = list(WorkSessionTransition.domain.history_for_session(self.pk)) if self.pk else []
        return self._history

    def events(self) -> list[pause_budget.Event]:
        return [pause_budget.Event(row.to_status, row.event_at) for row in self.history()]

    def recalculate_active_seconds(self, *, until: datetime | None = None) -> Decimal:
        """Running time re-derived from the history; an open running span counts up to `until` if given."""
        running = pause_budget.intervals_in_status(self.events(), SessionStatus.RUNNING)
        return seconds(pause_budget.total_duration(running, until=until))

    def pause_intervals(self) -> list[pause_budget.Interval]:
        return pause_budget.intervals_in_status(self.events(), SessionStatus.PAUSED)

    def _move(self, action, to_status, *, actor, at, metadata: dict | None = None):
        self.status = to_status
        self.updated_at = at
        return self.add_transition(action=action, to_status=to_status, actor=actor, at=at, metadata=metadata)

    def _require_status(self, *allowed: str, action: str, at: datetime) -> None:
        if self.status not in allowed:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"cannot {action} a {self.status} work session")
        # Checked before any field changes, so a refused event leaves the session as it was.
        history = self.history()
        if history and pause_budget.as_utc(at) < history[-1].event_at:
            raise DomainError(ErrorCode.INVALID_TRANSITION, "a session event cannot precede the previous one")


def seconds(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / Decimal(1_000_000)


class WorkSessionTransition(AppendOnlyModel):
    # Not indexed alone: ws_transition_history_idx leads with it.
    session = models.ForeignKey(WorkSession, on_delete=models.PROTECT, related_name="transitions", db_index=False)
    action = models.CharField(max_length=16, choices=SessionAction.choices)
    from_status = models.CharField(max_length=10, choices=SessionStatus.choices, null=True, blank=True)
    to_status = models.CharField(max_length=10, choices=SessionStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event_at = models.DateTimeField()
    metadata = models.JSONField(default=dict, blank=True)

    objects = WorkSessionTransitionQuerySet.as_manager()
    domain = WorkSessionTransitionQuerySet.as_manager()

    class Meta:
        db_table = "work_session_transition"
        indexes = [models.Index(fields=["session", "event_at", "id"], name="ws_transition_history_idx")]
        constraints = [
            models.CheckConstraint(name="ws_transition_action_known", condition=_in("action", SessionAction)),
            models.CheckConstraint(name="ws_transition_to_known", condition=_in("to_status", SessionStatus)),
        ]

    def __str__(self) -> str:
        return f"{self.action} at {self.event_at.isoformat()}"


class TicketReviewQueue(Ticket):
    """The admin's review queue: tickets waiting for an admin to approve them (see `Ticket.domain.under_review`)."""

    class Meta:
        proxy = True
        verbose_name = "ticket under review"
        verbose_name_plural = "tickets under review"
