"""Setup and inspection for fault tests, against the stack's own database.

    DATABASE_URL=... REDIS_URL=... python -m tests.support.tool seed|report|check   (JSON arguments on stdin)

A child process reaches the stack's database (in a private PostgreSQL cluster) without re-pointing the test
process's Django connections; the answer is one JSON line on stdout. Seeding goes through the services (the Shop
of builders.py, on the real clock).
"""

import io
import json
import os
import sys
from collections import Counter


def seed(args: dict) -> dict:
    """Approved tickets, each on its own item with two parts and assigned to its own technician, plus tokens."""
    from apps.common.time import utc_now
    from tests.support import factories
    from tests.support.builders import Shop

    prefix, count = args["prefix"], int(args["tickets"])
    shop = Shop(
        admin=factories.AdminFactory(username=f"{prefix}-admin"),
        master=factories.MasterFactory(username=f"{prefix}-master"),
        inspector=factories.InspectorFactory(username=f"{prefix}-qc"),
        clock=utc_now,
    )
    tickets = []
    for index in range(count):
        technician = factories.TechnicianFactory(username=f"{prefix}-tech-{index}")
        item = factories.InventoryItemFactory(serial_number=f"{prefix}-SN-{index}", name=f"bike {index}")
        parts = [factories.InventoryItemPartFactory(inventory_item=item, name=name) for name in ("brakes", "chain")]
        ticket = shop.assigned(technician, item=item, parts=parts, minutes=(20, 20), title=f"{prefix} {index}")
        token = factories.issue_token(technician)
        tickets.append({"ticket_id": ticket.pk, "technician_id": technician.pk, "token": token})
    return {
        "admin_token": factories.issue_token(shop.admin),
        "qc_token": factories.issue_token(shop.inspector),
        "tickets": tickets,
    }


def report(args: dict) -> dict:
    """Outcomes of the given commands, counts of every command, and the histories of the given tickets."""
    from apps.commands.models import Command
    from apps.common.time import isoformat_utc
    from apps.ticket.models import Ticket, TicketTransition, WorkSessionTransition

    ids = args.get("command_ids", [])
    rows = list(Command.objects.filter(id__in=ids).values("id", "status", "attempts", "error_code", "type"))
    everything = Counter(f"{t}|{s}" for t, s in Command.objects.values_list("type", "status"))
    not_succeeded = [
        {"id": str(r["id"]), "type": r["type"], "status": r["status"], "error_code": r["error_code"]}
        for r in rows
        if r["status"] != "succeeded"
    ]
    tickets = {}
    ticket_ids = args.get("ticket_ids", [])
    for ticket_id, status in Ticket.objects.filter(id__in=ticket_ids).values_list("id", "status"):
        tickets[str(ticket_id)] = {"status": status, "actions": [], "sessions": {}}
    for ticket_id, action in (
        TicketTransition.objects.filter(ticket_id__in=ticket_ids)
        .order_by("ticket_id", "created_at", "id")
        .values_list("ticket_id", "action")
    ):
        tickets[str(ticket_id)]["actions"].append(action)
    for row in (
        WorkSessionTransition.objects.filter(session__ticket_id__in=ticket_ids)
        .order_by("session__ticket_id", "session_id", "event_at", "id")
        .values("session__ticket_id", "session_id", "action", "event_at", "actor_id", "metadata")
    ):
        sessions = tickets[str(row["session__ticket_id"])]["sessions"]
        sessions.setdefault(str(row["session_id"]), []).append(
            {
                "action": row["action"],
                "event_at": isoformat_utc(row["event_at"]),
                "actor_id": row["actor_id"],
                "metadata": row["metadata"],
            }
        )
    return {
        "commands": {
            "asked": len(ids),
            "found": len(rows),
            "by_status": dict(Counter(r["status"] for r in rows)),
            "max_attempts": max((r["attempts"] for r in rows), default=0),
            "not_succeeded": not_succeeded[:50],
        },
        "all_commands": {"by_type_status": dict(everything), "pending": Command.objects.pending().count()},
        "tickets": tickets,
        "checks": check({}) if args.get("check") else None,
    }


def check(args: dict) -> dict:
    """The project's checker (`manage.py check_invariants`) and this suite's own checks (tests.support.invariants)."""
    from django.core.management import call_command, get_commands
    from django.core.management.base import CommandError

    from tests.support.invariants import run_checks

    ours = run_checks()
    violations = dict(ours["violations"])
    project = "not available"
    if "check_invariants" in get_commands():
        out = io.StringIO()
        try:
            call_command("check_invariants", stdout=out)
            project = out.getvalue().strip()
        except CommandError as exc:
            project = str(exc)
            violations["check_invariants"] = out.getvalue().splitlines()[:50]
    return {
        "ok": not violations,
        "check_invariants": project,
        "fault_checks": "tests.support.invariants",
        "violations": violations,
        "counted": ours["counted"],
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    command = sys.argv[1]
    args = json.loads(sys.stdin.read() or "{}")
    answer = {"seed": seed, "report": report, "check": check}[command](args)
    sys.stdout.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
