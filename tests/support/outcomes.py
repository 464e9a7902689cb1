"""What every fault test ends with: all commands final, each ticket's life applied exactly once, invariants clean."""

import time
from collections import Counter

from tests.support.lives import LIFE_TICKET_ACTIONS, PAUSE_LIFE, PAUSE_LIFE_SESSIONS
from tests.support.load import Load
from tests.support.logs import write_figures
from tests.support.stack import Stack


class Timer:
    def __init__(self):
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> float:
        self.marks[name] = round(time.monotonic() - self.started, 2)
        return self.marks[name]


def settle_and_report(stack: Stack, load: Load, *, timer: Timer, settle_timeout: float, extra_ticket_ids=()) -> dict:
    """Wait for every command to be final, then gather the outcomes, the histories and the checker's verdict."""
    try:
        timer.marks["settle_seconds"] = round(stack.wait_settled(settle_timeout), 2)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.process_logs()}") from None
    timer.mark("settled")
    ticket_ids = [t["ticket_id"] for t in load.tickets] + list(extra_ticket_ids)
    report = stack.tool("report", {"command_ids": load.command_ids(), "ticket_ids": ticket_ids, "check": True})
    checks = report.pop("checks")
    timer.mark("checked")
    return {"report": report, "checks": checks, "requeued_lanes": stack.requeued_lanes()}


def lives_not_applied_once(report: dict, tickets: list[dict], actions: list[str], sessions: list[list[str]]):
    """Tickets whose history is not exactly one application of each of their commands (first 10)."""
    wrong = []
    for ticket in tickets:
        got = report["tickets"].get(str(ticket["ticket_id"]))
        got_sessions = [[row["action"] for row in rows] for _, rows in sorted(got["sessions"].items())] if got else []
        if got is None or got["actions"] != actions or got_sessions != sessions:
            wrong.append(
                {"ticket_id": ticket["ticket_id"], "actions": got and got["actions"], "sessions": got_sessions}
            )
    return wrong[:10]


def base_figures(name: str, load: Load, outcome: dict, timer: Timer, **extra) -> dict:
    commands = outcome["report"]["commands"]
    all_commands = outcome["report"]["all_commands"]
    by_status = Counter()
    for type_status, count in all_commands["by_type_status"].items():
        by_status[type_status.split("|")[1]] += count
    return write_figures(
        f"fault-{name}",
        {
            "test": name,
            "load": load.figures(),
            "commands_submitted": load.total,
            "commands_accepted": len(load.command_ids()),
            "commands_applied": commands["by_status"].get("succeeded", 0),
            "final_status_counts": commands["by_status"],
            "all_commands_in_database": dict(by_status),
            "pending_left": all_commands["pending"],
            "max_attempts": commands["max_attempts"],
            "lane_messages_resent_by_stale_sweep": outcome["requeued_lanes"],
            "not_succeeded": commands["not_succeeded"][:10],
            **extra,
            "checker": outcome["checks"],
            "durations": timer.marks,
        },
    )


def assert_clean_outcome(figures: dict, load: Load, outcome: dict, *, other_commands: int = 0) -> None:
    """Every planned command accepted once, final and applied; no 500s or other surprises; invariants clean.

    `other_commands`: how many commands besides the load's the test itself caused (the database holds no more).
    """
    assert load.unexpected == [], load.unexpected[:5]
    assert load.given_up == [], load.given_up[:5]
    assert figures["commands_accepted"] == figures["commands_submitted"], figures["load"]
    assert len(set(load.command_ids())) == figures["commands_accepted"]
    # A client's retry (after a 503 or a dropped connection) never stored a second command.
    assert sum(figures["all_commands_in_database"].values()) == figures["commands_accepted"] + other_commands
    commands = outcome["report"]["commands"]
    assert commands["found"] == figures["commands_accepted"]
    assert figures["pending_left"] == 0
    assert commands["by_status"].get("failed", 0) == 0, commands["not_succeeded"]
    assert commands["by_status"] == {"succeeded": figures["commands_accepted"]}, commands["not_succeeded"]
    assert figures["all_commands_in_database"].get("failed", 0) == 0, figures["all_commands_in_database"]
    assert outcome["checks"]["ok"], outcome["checks"]["violations"]


def finish_pause_life(stack: Stack, load: Load, *, name: str, timer: Timer, settle_timeout: float, **extra) -> dict:
    """The end of a fault run over PAUSE_LIFE tickets: settle, write the figures (with `extra`), and assert that
    every command was applied once, each ticket's life exactly once, and the invariants hold. Returns the figures."""
    outcome = settle_and_report(stack, load, timer=timer, settle_timeout=settle_timeout)
    wrong = lives_not_applied_once(outcome["report"], stack.seeded["tickets"], LIFE_TICKET_ACTIONS, PAUSE_LIFE_SESSIONS)
    figures = base_figures(name, load, outcome, timer, **extra, tickets_not_applied_once=wrong)
    assert load.transport_errors == [], load.transport_errors[:5]
    assert_clean_outcome(figures, load, outcome)
    assert wrong == []
    return figures


def pause_life_under_faults(
    make_stack, *, name: str, tickets: int, rate: float, settle_timeout: float, faults: int, inject
):
    """A fault run: PAUSE_LIFE for `tickets` tickets at `rate` commands/s, and `inject(stack)` called `faults` times,
    spread over the load (each time another 1/(faults + 1) of it has been accepted). Finishes as finish_pause_life
    does; the figures list each fault under "faults" (when, and the commands accepted and pending around it)."""
    timer = Timer()
    stack = make_stack(name).start(seed_tickets=tickets)
    timer.mark("ready")
    load = Load(stack.web.url, stack.seeded["tickets"], PAUSE_LIFE, name=name, rate=rate).start()
    done = []
    try:
        for n in range(1, faults + 1):
            load.wait_accepted(load.total * n // (faults + 1), timeout=120)
            accepted, pending = load.accepted(), stack.pending()
            started = timer.mark(f"fault{n}")
            inject(stack)
            done.append(
                {
                    "at": started,
                    "accepted_at_fault": accepted,
                    "pending_at_fault": pending,
                    "accepted_during_fault": load.accepted() - accepted,
                    "back_after_seconds": round(timer.mark(f"fault{n}-done") - started, 2),
                }
            )
        load.wait(timeout=180)
    finally:
        load.stop()
    timer.mark("submitted")
    return finish_pause_life(stack, load, name=name, timer=timer, settle_timeout=settle_timeout, faults=done)
