"""The data's invariants, checked after the fact (`manage.py check_invariants`, and tests).

Each check yields violations as "<check>: <what is wrong>". Aggregates run in SQL; the active-time check reads
sessions in keyset batches with their history, one query per batch. Nothing is locked or written.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Count

from apps.analytics import read_models
from apps.commands.models import Command
from apps.events.models import Event
from apps.rules.config import RulesConfig, WorkSessionConfig
from apps.rules.models import RulesVersion
from apps.ticket.models import SessionStatus, Ticket, TicketTransition, WorkSession, WorkSessionTransition
from apps.ticket.selectors import deadline_after_rules_change, deadline_for_pause
from apps.xp.models import XpEntry

STALE_MARGIN = timedelta(seconds=60)


@dataclass
class InvariantReport:
    violations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        checked = ", ".join(f"{count} {name}" for name, count in self.counts.items())
        return f"OK: no invariant violations ({checked})"


def default_stale_after() -> timedelta:
    """How long a command may stay pending: the stale sweep's window plus a margin for the sweep to run."""
    return timedelta(seconds=settings.COMMAND_STALE_AFTER_SECONDS) + STALE_MARGIN


def find_violations(**options) -> list[str]:
    return check_invariants(**options).violations


def check_invariants(
    *,
    now: datetime,
    stale_after: timedelta | None = None,
    batch_size: int = 2000,
    limit: int = 100,
    events: bool = False,
) -> InvariantReport:
    """Run every check. `limit` caps the violations listed per check (one more line says when there were more).
    `events` adds the outbox's: every history row of a ticket has its event (off unless asked for)."""
    stale_after = default_stale_after() if stale_after is None else stale_after
    most = limit + 1  # one more than listed tells that there were more
    checks = [
        ("active_seconds", _active_seconds(batch_size)),
        ("open_session_per_ticket", _duplicates(WorkSession.domain.open(), "ticket_id", "ticket", "open sessions")),
        (
            "open_session_per_technician",
            _duplicates(WorkSession.domain.open(), "technician_id", "technician", "open sessions"),
        ),
        ("active_ticket_per_item", _duplicates(Ticket.domain.active(), "inventory_item_id", "item", "active tickets")),
        ("ticket_chain", _chain_breaks(TicketTransition, "ticket_id", "created_at", "ticket", most)),
        ("ticket_last_status", _last_status_mismatches(Ticket, TicketTransition, "ticket_id", "created_at", most)),
        ("session_chain", _chain_breaks(WorkSessionTransition, "session_id", "event_at", "work session", most)),
        (
            "session_last_status",
            _last_status_mismatches(WorkSession, WorkSessionTransition, "session_id", "event_at", most),
        ),
        ("xp_reference", _duplicate_xp_references()),
        ("stale_command", _stale_commands(now=now, stale_after=stale_after)),
        ("pause_deadline", _pause_deadlines()),
        # The analytics read models equal their derivation from the histories (apps/analytics/read_models.py).
        ("analytics_read_models", read_models.drift(most)),
    ]
    if events:
        checks.append(("history_events", _history_without_events(most)))
    report = InvariantReport()
    for name, violations in checks:
        for listed, violation in enumerate(violations):
            if listed == limit:
                report.violations.append(f"{name}: more violations not listed (limit {limit} per check)")
                break
            report.violations.append(f"{name}: {violation}")
    report.counts.update(
        {
            "work sessions": WorkSession.objects.count(),
            "paused sessions": WorkSession.domain.paused().count(),
            "tickets": Ticket.objects.count(),
            "ticket transitions": TicketTransition.objects.count(),
            "session transitions": WorkSessionTransition.objects.count(),
            "XP entries": XpEntry.objects.count(),
            "pending commands": Command.objects.pending().count(),
        }
    )
    if events:
        report.counts["events"] = Event.objects.count()
    return report


# --- work sessions -----------------------------------------------------------------------------------------------


class HistoryStep(NamedTuple):
    to_status: str
    event_at: datetime


def _active_seconds(batch_size: int) -> Iterator[str]:
    """Each stored active_seconds equals the one WorkSession.recalculate_active_seconds derives from history."""
    after = 0
    while True:
        batch = list(
            WorkSession.objects.filter(pk__gt=after)
            .order_by("pk")
            .only("pk", "status", "active_seconds", "ticket_id", "technician_id")[:batch_size]
        )
        if not batch:
            break
        history: dict[int, list[HistoryStep]] = defaultdict(list)
        rows = WorkSessionTransition.domain.for_sessions([s.pk for s in batch]).values_list(
            "session_id", "to_status", "event_at"
        )
        for session_id, to_status, event_at in rows.iterator(chunk_size=5000):
            history[session_id].append(HistoryStep(to_status, event_at))  # all that the derivation reads
        for session in batch:
            session._history = history[session.pk]
            derived = session.recalculate_active_seconds()
            if session.active_seconds != derived:
                yield (
                    f"work session {session.pk} stores {session.active_seconds:.6f} s, "
                    f"its history gives {derived:.6f} s"
                )
        after = batch[-1].pk


def _pause_deadlines() -> Iterator[str]:
    """A paused session resumes when deadline_for_pause says under the rules that set its deadline.

    That is the active rules, as their change re-derived it (`deadline_after_rules_change`: never before the change).
    A deadline already due when the active rules took effect is kept by the change, so it answers to the rules in
    force at that deadline instead (the first version for anything older than the first version).
    """
    versions = [
        Rules(row.version, row.created_at, RulesConfig.model_validate(row.config).work_session)
        for row in RulesVersion.objects.order_by("version")
    ]
    for session in WorkSession.domain.paused().order_by("pk").iterator(chunk_size=500):
        pauses = [row for row in session.history() if row.to_status == SessionStatus.PAUSED]
        if not pauses:
            yield f"paused work session {session.pk} has no pause in its history"
            continue
        paused_at = pauses[-1].event_at
        acceptable = _acceptable_deadlines(session, paused_at, versions)
        if session.auto_resume_at not in acceptable:
            expected = " or ".join(sorted({d.isoformat() for d in acceptable}))
            yield (
                f"paused work session {session.pk} (paused at {paused_at.isoformat()}) resumes at "
                f"{session.auto_resume_at.isoformat()}, expected {expected}"
            )


class Rules(NamedTuple):
    version: int
    since: datetime
    work_session: WorkSessionConfig


def _acceptable_deadlines(session: WorkSession, paused_at: datetime, versions: list[Rules]) -> set[datetime]:
    active = versions[-1]
    candidates = [active]
    if session.auto_resume_at <= active.since:
        candidates.append(next((v for v in reversed(versions) if v.since <= session.auto_resume_at), versions[0]))
    acceptable = set()
    for rules in candidates:
        computed, _ = deadline_for_pause(
            technician_id=session.technician_id, paused_at=paused_at, config=rules.work_session
        )
        acceptable.add(computed)
        if rules is not versions[0]:  # the first version changed nothing, so it moved nothing
            acceptable.add(
                deadline_after_rules_change(
                    technician_id=session.technician_id,
                    paused_at=paused_at,
                    changed_at=rules.since,
                    config=rules.work_session,
                )
            )
    return acceptable


# --- tickets, items, XP, commands ----------------------------------------------------------------------------


def _duplicates(queryset, key: str, noun: str, what: str) -> Iterator[str]:
    groups = (
        queryset.order_by()
        .values(key)
        .annotate(n=Count("pk"), ids=ArrayAgg("pk", order_by="pk"))
        .filter(n__gt=1)
        .order_by(key)
    )
    for group in groups.iterator():
        yield f"{noun} {group[key]} has {group['n']} {what}: {', '.join(map(str, group['ids']))}"


def _duplicate_xp_references() -> Iterator[str]:
    groups = (
        XpEntry.objects.order_by()
        .values("reference")
        .annotate(n=Count("pk"), ids=ArrayAgg("pk", order_by="pk"))
        .filter(n__gt=1)
        .order_by("reference")
    )
    for group in groups.iterator():
        yield f"reference {group['reference']!r} is on {group['n']} XP entries: {', '.join(map(str, group['ids']))}"


def _stale_commands(*, now: datetime, stale_after: timedelta) -> Iterator[str]:
    stale = Command.objects.pending().filter(submitted_at__lt=now - stale_after).order_by("submitted_at", "seq")
    for command in stale.only("id", "type", "lane", "submitted_at").iterator():
        age = (now - command.submitted_at).total_seconds()
        yield (
            f"command {command.id} ({command.type}, lane {command.lane}) pending for {age:.0f} s "
            f"(allowed {stale_after.total_seconds():.0f} s)"
        )


# --- history chains, in SQL ----------------------------------------------------------------------------------------


def _chain_breaks(model, parent: str, order: str, parent_name: str, most: int) -> Iterator[str]:
    """Each transition starts where the previous one ended; the first starts from nothing (from_status NULL)."""
    table = model._meta.db_table
    sql = f"""
        SELECT {parent}, id, position, from_status, previous_to
        FROM (
            SELECT {parent}, id, from_status,
                   LAG(to_status) OVER chain AS previous_to,
                   ROW_NUMBER() OVER chain AS position
            FROM {table}
            WINDOW chain AS (PARTITION BY {parent} ORDER BY {order}, id)
        ) steps
        WHERE (position = 1 AND from_status IS NOT NULL)
           OR (position > 1 AND from_status IS DISTINCT FROM previous_to)
        ORDER BY {parent}, position
        LIMIT %s
    """
    for parent_id, transition_id, position, from_status, previous_to in _rows(sql, [most]):
        if position == 1:
            yield f"{parent_name} {parent_id}: first transition {transition_id} starts from {from_status!r}, not None"
        else:
            yield (
                f"{parent_name} {parent_id}: transition {transition_id} starts from {from_status!r} "
                f"but the previous one ended in {previous_to!r}"
            )


def _last_status_mismatches(model, history_model, parent: str, order: str, most: int) -> Iterator[str]:
    """The last transition ends in the row's current status (and every row has a history)."""
    table, history = model._meta.db_table, history_model._meta.db_table
    parent_name = model._meta.verbose_name
    sql = f"""
        SELECT row.id, row.status, last.to_status
        FROM {table} row
        LEFT JOIN LATERAL (
            SELECT to_status FROM {history} h WHERE h.{parent} = row.id ORDER BY h.{order} DESC, h.id DESC LIMIT 1
        ) last ON TRUE
        WHERE last.to_status IS DISTINCT FROM row.status
        ORDER BY row.id
        LIMIT %s
    """
    for row_id, status, last in _rows(sql, [most]):
        if last is None:
            yield f"{parent_name} {row_id} ({status!r}) has no history"
        else:
            yield f"{parent_name} {row_id} is {status!r} but its last transition ends in {last!r}"


def _history_without_events(most: int) -> Iterator[str]:
    """Each ticket transition, session transition and XP entry of a ticket has its one event (the outbox).

    Checked for the tickets whose `ticket.created` event is still kept: retention prunes oldest first, so theirs
    are all kept too (rows written around the services, by bulk loads, have none and are not counted).
    """
    sql = """
        WITH kept AS (SELECT ticket_id FROM event WHERE type = 'ticket.created'),
        logged AS (
            SELECT ticket_id,
                   count(*) FILTER (WHERE type LIKE 'ticket.%%' AND type <> 'ticket.metrics_recomputed') AS ticket,
                   count(*) FILTER (WHERE type LIKE 'work_session.%%') AS session,
                   count(*) FILTER (WHERE type = 'xp.awarded') AS xp
            FROM event WHERE ticket_id IN (SELECT ticket_id FROM kept) GROUP BY ticket_id
        ),
        written AS (
            SELECT kept.ticket_id,
                   (SELECT count(*) FROM ticket_transition t WHERE t.ticket_id = kept.ticket_id) AS ticket,
                   (SELECT count(*) FROM work_session_transition st JOIN work_session s ON s.id = st.session_id
                    WHERE s.ticket_id = kept.ticket_id) AS session,
                   (SELECT count(*) FROM xp_entry x WHERE x.ticket_id = kept.ticket_id) AS xp
            FROM kept
        )
        SELECT written.ticket_id, written.ticket, logged.ticket, written.session, logged.session,
               written.xp, logged.xp
        FROM written JOIN logged USING (ticket_id)
        WHERE (written.ticket, written.session, written.xp) IS DISTINCT FROM (logged.ticket, logged.session, logged.xp)
        ORDER BY written.ticket_id
        LIMIT %s
    """
    for ticket_id, *counts in _rows(sql, [most]):
        written_and_logged = zip(
            ("transitions", "session transitions", "XP entries"), counts[::2], counts[1::2], strict=True
        )
        differences = ", ".join(f"{n} {what} but {e} events" for what, n, e in written_and_logged if n != e)
        yield f"ticket {ticket_id}: {differences}"


def _rows(sql: str, params: list) -> Iterator[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(1000):
            yield from rows
