"""Intention-revealing queries, reached as `Model.domain`."""

from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db import models
from django.db.models.functions import JSONObject

from apps.common.append_only import AppendOnlyQuerySet

ACTIVE_TICKET_STATUSES = ("under_review", "new", "assigned", "in_progress", "waiting_qc", "rework")
OPEN_SESSION_STATUSES = ("running", "paused")


class TicketQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def active(self):
        return self.alive().filter(status__in=ACTIVE_TICKET_STATUSES)

    def active_for_item(self, item_id: int):
        return self.active().filter(inventory_item_id=item_id)

    def under_review(self):
        return self.alive().filter(status="under_review")

    def active_auto_metrics(self):
        """Active tickets whose metrics follow their part specs (not manually overridden)."""
        return self.active().filter(is_manual=False)


class TicketPartSpecQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class TicketTransitionQuerySet(AppendOnlyQuerySet):
    def history_for_ticket(self, ticket_id: int):
        return self.filter(ticket_id=ticket_id).order_by("created_at", "id")

    def qc_fails(self, ticket_id):
        """The ticket's failed QC decisions (`ticket_id` may be an OuterRef)."""
        return self.filter(ticket_id=ticket_id, action="qc_fail")


class WorkSessionQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def open(self):
        return self.alive().filter(status__in=OPEN_SESSION_STATUSES)

    def open_for_ticket(self, ticket_id: int):
        return self.open().filter(ticket_id=ticket_id)

    def open_for_technician(self, technician_id: int):
        return self.open().filter(technician_id=technician_id)

    def newest_first(self, ticket_id: int, technician_id: int):
        """A technician's sessions on a ticket, the latest first."""
        return self.alive().filter(ticket_id=ticket_id, technician_id=technician_id).order_by("-started_at", "-id")

    def paused(self):
        return self.alive().filter(status="paused")

    def paused_due(self, at: datetime):
        """Paused sessions whose pause budget ran out by `at` (served by a partial index)."""
        return self.paused().filter(auto_resume_at__lte=at)

    def overlapping(self, technician_id: int, lo: datetime, hi: datetime):
        """A technician's sessions that were alive at some point in [lo, hi)."""
        return (
            self.alive()
            .filter(technician_id=technician_id, started_at__lt=hi)
            .filter(models.Q(ended_at__isnull=True) | models.Q(ended_at__gt=lo))
        )


class WorkSessionTransitionQuerySet(AppendOnlyQuerySet):
    def history_for_session(self, session_id: int):
        return self.filter(session_id=session_id).order_by("event_at", "id")

    def history_as_read(self, session_id) -> ArraySubquery:
        """A session's history as a list of JSON objects, in order, to read with the session's own row
        (`session_id` is an OuterRef); `WorkSession.adopt_history` turns it back into rows."""
        fields = {field.attname: field.attname for field in self.model._meta.concrete_fields}
        return ArraySubquery(self.history_for_session(session_id).values(row=JSONObject(**fields)))

    def for_sessions(self, session_ids):
        return self.filter(session_id__in=session_ids).order_by("session_id", "event_at", "id")
