"""Invariant checks of the fault tests, run after a test has settled, beside the project's `check_invariants`.

They overlap it on purpose and add what faults are most likely to break: a transition recorded twice, a move the
state machine does not allow, an automatic resume not at its pause's deadline. Each check reads the stored history
independently of the services that wrote it (the active time is re-derived here, not by the model's own method),
so a bug in the write path cannot hide itself.
"""

from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

from apps.commands.models import Command
from apps.ticket.models import Ticket, TicketTransition, WorkSession, WorkSessionTransition

OPEN = ("running", "paused")
SESSION_ACTION_TARGET = {"started": "running", "paused": "paused", "resumed": "running", "stopped": "stopped"}
# from_status → to_status allowed for each ticket action (API.md's state machine).
TICKET_MOVES = {
    "created": {(None, "under_review")},
    "review_approved": {("under_review", "new")},
    "assigned": {("new", "assigned"), ("assigned", "assigned"), ("rework", "rework"), ("under_review", "assigned")},
    "started": {("assigned", "in_progress"), ("rework", "in_progress")},
    "to_waiting_qc": {("in_progress", "waiting_qc")},
    "qc_pass": {("waiting_qc", "done")},
    "qc_fail": {("waiting_qc", "rework")},
}
STATE_ONLY = {"part_specs_changed", "manual_metrics_set", "manual_metrics_cleared"}


def check_ticket_chains() -> list[str]:
    """Each ticket's history is one chain from `created`, every move legal, ending at the ticket's status."""
    problems = []
    history = defaultdict(list)
    for row in TicketTransition.objects.order_by("ticket_id", "created_at", "id").values(
        "ticket_id", "action", "from_status", "to_status"
    ):
        history[row["ticket_id"]].append(row)
    for ticket_id, status in Ticket.objects.values_list("id", "status"):
        rows = history.get(ticket_id, [])
        if not rows or rows[0]["action"] != "created":
            problems.append(f"ticket {ticket_id}: history does not start with 'created'")
            continue
        previous = None
        for row in rows:
            if row["action"] in STATE_ONLY:
                if row["from_status"] != previous or row["to_status"] != previous:
                    problems.append(f"ticket {ticket_id}: {row['action']} changed the status")
                continue
            if row["from_status"] != previous:
                problems.append(
                    f"ticket {ticket_id}: {row['action']} from {row['from_status']} follows a move to {previous}"
                )
            if (row["from_status"], row["to_status"]) not in TICKET_MOVES.get(row["action"], set()):
                problems.append(f"ticket {ticket_id}: illegal {row['action']} {row['from_status']}→{row['to_status']}")
            previous = row["to_status"]
        if previous != status:
            problems.append(f"ticket {ticket_id}: status {status} but its history ends at {previous}")
    return problems


def check_duplicated_transitions() -> list[str]:
    """No state-changing transition is recorded twice (same ticket or session, action and instant)."""
    problems = []
    ticket_rows = Counter(
        TicketTransition.objects.exclude(action__in=STATE_ONLY).values_list("ticket_id", "action", "created_at")
    )
    problems += [f"ticket {t}: {a} at {at} recorded {n} times" for (t, a, at), n in ticket_rows.items() if n > 1]
    session_rows = Counter(WorkSessionTransition.objects.values_list("session_id", "action", "event_at"))
    problems += [f"session {s}: {a} at {at} recorded {n} times" for (s, a, at), n in session_rows.items() if n > 1]
    return problems


def _running_seconds(events) -> Decimal:
    total = timedelta(0)
    for (status, at), (_, next_at) in pairwise(events):
        if status == "running":
            total += next_at - at
    return Decimal(total // timedelta(microseconds=1)) / Decimal(1_000_000)


def check_sessions() -> list[str]:
    """Session chains are consistent and `active_seconds` equals the running time re-derived from the history."""
    problems = []
    history = defaultdict(list)
    for row in WorkSessionTransition.objects.order_by("session_id", "event_at", "id").values(
        "session_id", "action", "from_status", "to_status", "event_at", "actor_id", "metadata"
    ):
        history[row["session_id"]].append(row)
    for session in WorkSession.objects.values(
        "id", "status", "active_seconds", "ended_at", "auto_resume_at", "started_at"
    ):
        sid, rows = session["id"], history.get(session["id"], [])
        if not rows or rows[0]["action"] != "started" or rows[0]["event_at"] != session["started_at"]:
            problems.append(f"session {sid}: history does not start with its 'started' event")
            continue
        previous = None
        for row in rows:
            if row["from_status"] != previous:
                problems.append(f"session {sid}: {row['action']} from {row['from_status']} follows {previous}")
            if SESSION_ACTION_TARGET.get(row["action"]) != row["to_status"] or previous == "stopped":
                problems.append(f"session {sid}: illegal {row['action']} {row['from_status']}→{row['to_status']}")
            automatic = row["action"] == "resumed" and row["metadata"].get("auto_resumed")
            if automatic and (row["actor_id"] is not None or row["metadata"].get("scheduled_for") is None):
                problems.append(f"session {sid}: an automatic resume with an actor or without its deadline")
            previous = row["to_status"]
        if previous != session["status"]:
            problems.append(f"session {sid}: status {session['status']} but its history ends at {previous}")
        if (session["status"] == "stopped") != (session["ended_at"] is not None) or (
            session["ended_at"] is not None and session["ended_at"] != rows[-1]["event_at"]
        ):
            problems.append(f"session {sid}: ended_at does not match its 'stopped' event")
        if session["status"] == "paused" and session["auto_resume_at"] is None:
            problems.append(f"session {sid}: paused without a deadline")
        recomputed = _running_seconds([(row["to_status"], row["event_at"]) for row in rows])
        if recomputed != session["active_seconds"]:
            problems.append(f"session {sid}: active_seconds {session['active_seconds']} but history says {recomputed}")
        problems += _check_pause_resumes(sid, rows)
    return problems


def _check_pause_resumes(sid: int, rows: list[dict]) -> list[str]:
    """An automatic resume ends the pause just before it, exactly at that pause's deadline."""
    problems = []
    for before, row in pairwise(rows):
        if row["action"] != "resumed" or not row["metadata"].get("auto_resumed"):
            continue
        deadline = before["metadata"].get("auto_resume_at") if before["action"] == "paused" else None
        if deadline is None or row["metadata"].get("scheduled_for") != deadline:
            problems.append(f"session {sid}: automatic resume at {row['event_at']} is not the deadline {deadline}")
    return problems


def check_one_open_session() -> list[str]:
    problems = []
    open_sessions = WorkSession.objects.filter(status__in=OPEN, deleted_at__isnull=True)
    for field in ("technician_id", "ticket_id"):
        counts = Counter(open_sessions.values_list(field, flat=True))
        problems += [f"{field} {key}: {n} open work sessions" for key, n in counts.items() if n > 1]
    for session_id, ticket_status in open_sessions.values_list("id", "ticket__status"):
        if ticket_status != "in_progress":
            problems.append(f"session {session_id}: open on a {ticket_status} ticket")
    return problems


def check_commands() -> list[str]:
    """Final commands carry their outcome; a succeeded command on a ticket names it."""
    problems = []
    for row in Command.objects.exclude(status="pending").filter(finished_at__isnull=True).values("id"):
        problems.append(f"command {row['id']}: final without finished_at")
    for row in Command.objects.filter(status="succeeded", ticket_id__isnull=True).exclude(result=None).values("id"):
        problems.append(f"command {row['id']}: succeeded with a result but no ticket")
    return problems


CHECKS = [
    check_ticket_chains,
    check_duplicated_transitions,
    check_sessions,
    check_one_open_session,
    check_commands,
]


def run_checks() -> dict:
    violations = {}
    for check in CHECKS:
        found = check()
        if found:
            violations[check.__name__] = found[:50] + ([f"... {len(found) - 50} more"] if len(found) > 50 else [])
    return {
        "ok": not violations,
        "violations": violations,
        "counted": {
            "tickets": Ticket.objects.count(),
            "ticket_transitions": TicketTransition.objects.count(),
            "work_sessions": WorkSession.objects.count(),
            "work_session_transitions": WorkSessionTransition.objects.count(),
            "commands": Command.objects.count(),
        },
    }
