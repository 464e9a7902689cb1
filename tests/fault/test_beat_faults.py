"""Beat killed while sessions are paused, then started again; two beats at once: every spent pause budget is
resumed exactly once, recorded at its deadline however late the sweep ran.

The ETA fast path is taken away first (the timers worker is SIGKILLed and its queued messages are dropped), so that
only beat's sweep can resume the sessions: what these tests prove is the guarantee, not the fast path.
"""

import time
from datetime import datetime

import httpx
import pytest
from django.conf import settings

from apps.common.time import utc_now
from tests.support.contract import FINAL_STATUSES
from tests.support.lives import LIFE_TICKET_ACTIONS, PAUSE_LIFE_SESSIONS, TWO_SESSION_LIFE, TWO_SESSION_LIFE_SESSIONS
from tests.support.load import Load
from tests.support.outcomes import Timer, assert_clean_outcome, base_figures, lives_not_applied_once, settle_and_report
from tests.support.processes import wait_until

BUDGET_SECONDS = 3


def run_commands(stack, tickets: list[dict], steps: list[str], *, tag: str) -> dict[int, dict]:
    """Submit `steps` for every ticket (in step order) and wait until all are final; {ticket_id: last command}."""
    ids = {}
    for step in steps:
        for ticket in tickets:
            with stack.client(ticket["token"]) as http:
                response = http.post(
                    "/api/v1/commands",
                    json={"type": step, "ticket_id": ticket["ticket_id"]},
                    headers={"Idempotency-Key": f"{tag}-{ticket['ticket_id']}-{step}"},
                )
            assert response.status_code == 202, response.text
            ids[(ticket["ticket_id"], step)] = (ticket["token"], response.json()["id"])
    finals = {}
    for (ticket_id, step), (token, command_id) in ids.items():
        with stack.client(token) as http:
            command = wait_until(
                lambda http=http, command_id=command_id: _final(http, command_id),
                timeout=60,
                what=f"{step} on ticket {ticket_id}",
                interval=0.05,
            )
        assert command["status"] == "succeeded", command
        finals[ticket_id] = command
    return finals


def _final(http: httpx.Client, command_id: str) -> dict | None:
    command = http.get(f"/api/v1/commands/{command_id}").json()
    return command if command["status"] in FINAL_STATUSES else None


def session_of(stack, token: str, ticket_id: int) -> dict:
    with stack.client(token) as http:
        [session] = http.get(f"/api/v1/tickets/{ticket_id}/work-sessions").json()["items"]
    return session


def pause_group(stack, group: list[dict], *, tag: str) -> dict[int, datetime]:
    """Start and pause every ticket of the group; {ticket_id: the deadline its pause budget runs out}."""
    paused = run_commands(stack, group, ["ticket.start", "work_session.pause"], tag=tag)
    return {tid: datetime.fromisoformat(c["result"]["work_session"]["auto_resume_at"]) for tid, c in paused.items()}


def resumes(stack, group: list[dict]) -> dict[int, list[dict]]:
    """The `resumed` transitions of each ticket's session."""
    return {
        t["ticket_id"]: [
            r for r in session_of(stack, t["token"], t["ticket_id"])["transitions"] if r["action"] == "resumed"
        ]
        for t in group
    }


def wrong_resumes(found: dict[int, list[dict]], deadlines: dict[int, datetime], *, not_before: datetime | None):
    """Pauses not resumed exactly once, by the system, at their deadline (first 10)."""
    wrong = []
    for ticket_id, rows in found.items():
        deadline = deadlines[ticket_id]
        ok = (
            len(rows) == 1
            and datetime.fromisoformat(rows[0]["event_at"]) == deadline
            and rows[0]["actor_id"] is None
            and rows[0]["metadata"].get("auto_resumed") is True
            and datetime.fromisoformat(rows[0]["metadata"]["scheduled_for"]) == deadline
            and (not_before is None or datetime.fromisoformat(rows[0]["metadata"]["applied_at"]) >= not_before)
        )
        if not ok:
            wrong.append({"ticket_id": ticket_id, "deadline": deadline.isoformat(), "resumed": rows})
    return wrong[:10]


def run_beat_faults(
    make_stack, *, name: str, load_tickets: int, paused: int, rate: float, settle_timeout: float, two_phases: bool
):
    """Phase 1: beat killed while sessions are paused, away past their deadlines, started again. Phase 2: two beats
    at once, sweeping alone. With `two_phases` off (the short variant) beat comes back as two beats in phase 1."""
    timer = Timer()
    groups = 2 if two_phases else 1
    stack = make_stack(name, timers_worker=True).start(seed_tickets=load_tickets + groups * paused)
    everyone = stack.seeded["tickets"]
    load_group = everyone[:load_tickets]
    group_a, group_b = everyone[load_tickets : load_tickets + paused], everyone[load_tickets + paused :]
    with stack.client(stack.seeded["admin_token"]) as admin:
        rules = admin.put(
            "/api/v1/rules",
            json={"config": {"work_session": {"daily_pause_limit_seconds": BUDGET_SECONDS}}, "reason": "fault test"},
        )
    assert rules.status_code == 200, rules.text
    timer.mark("ready")
    load = Load(stack.web.url, load_group, TWO_SESSION_LIFE, name=name, rate=rate).start()
    phases = {}
    try:
        # 1. Beat is killed while the sessions are paused, and stays away past every deadline.
        stack.timers_worker.kill()  # from here on, ETA jobs and sweeps wait in the timers queue
        deadlines_a = pause_group(stack, group_a, tag=f"{name}-a")
        stack.beats[0].kill()
        killed_at = utc_now()
        paused_at_kill = sum(session_of(stack, t["token"], t["ticket_id"])["status"] == "paused" for t in group_a)
        stack.redis.drop_queue(settings.CELERY_QUEUE_TIMERS)  # the ETA messages (and the dead beat's sweeps) are lost
        stack.restart_timers_worker()
        time.sleep(max(0.0, (max(deadlines_a.values()) - utc_now()).total_seconds()) + 2)
        still_paused = sum(session_of(stack, t["token"], t["ticket_id"])["status"] == "paused" for t in group_a)
        restarted_at = utc_now()
        stack.beats[0].start()
        if not two_phases:
            stack.start_beat()
        wait_until(lambda: all(resumes(stack, group_a).values()), timeout=30, what="beat to resume group A")
        resumed_after = (utc_now() - restarted_at).total_seconds()
        if not two_phases:
            time.sleep(2)  # a few more sweep rounds from both beats
        phases["beat_killed"] = {
            "sessions": len(group_a),
            "paused_when_beat_was_killed": paused_at_kill,
            "still_paused_past_deadline_without_beat": still_paused,
            "beat_down_seconds": round((restarted_at - killed_at).total_seconds(), 2),
            "beats_restarted": 1 if two_phases else 2,
            "beats_running": sum(1 for b in stack.beats if b.running),
            "all_resumed_within_seconds_of_beat_restart": round(resumed_after, 2),
            "wrong": wrong_resumes(resumes(stack, group_a), deadlines_a, not_before=restarted_at),
        }
        timer.mark("phase1")

        if two_phases:
            # 2. Two beats at once, the sweep alone again: still one resume per pause.
            stack.timers_worker.kill()
            deadlines_b = pause_group(stack, group_b, tag=f"{name}-b")
            stack.redis.drop_queue(settings.CELERY_QUEUE_TIMERS)
            stack.start_beat()
            stack.restart_timers_worker()
            wait_until(lambda: all(resumes(stack, group_b).values()), timeout=30, what="two beats to resume group B")
            time.sleep(2)  # a few more sweep rounds from both beats
            phases["two_beats"] = {
                "sessions": len(group_b),
                "beats_running": sum(1 for b in stack.beats if b.running),
                "wrong": wrong_resumes(resumes(stack, group_b), deadlines_b, not_before=None),
            }
            timer.mark("phase2")
        finished = run_commands(stack, group_a + group_b, ["work_session.stop", "ticket.to_waiting_qc"], tag=name)
        load.wait(timeout=180)
    finally:
        load.stop()
    timer.mark("submitted")
    paused_tickets = [t["ticket_id"] for t in group_a + group_b]
    outcome = settle_and_report(
        stack, load, timer=timer, settle_timeout=settle_timeout, extra_ticket_ids=paused_tickets
    )
    wrong = lives_not_applied_once(outcome["report"], load_group, LIFE_TICKET_ACTIONS, TWO_SESSION_LIFE_SESSIONS)
    wrong_paused = lives_not_applied_once(
        outcome["report"], group_a + group_b, LIFE_TICKET_ACTIONS, PAUSE_LIFE_SESSIONS
    )
    auto_resume_commands = {
        key.split("|")[1]: n
        for key, n in outcome["report"]["all_commands"]["by_type_status"].items()
        if key.startswith("work_session.auto_resume|")
    }
    figures = base_figures(
        name, load, outcome, timer, budget_seconds=BUDGET_SECONDS, phases=phases,
        auto_resume_commands=auto_resume_commands, tickets_not_applied_once=wrong + wrong_paused,
    )  # fmt: skip

    assert len(finished) == len(paused_tickets)
    assert phases["beat_killed"]["paused_when_beat_was_killed"] == len(group_a)
    assert phases["beat_killed"]["still_paused_past_deadline_without_beat"] == len(group_a)  # beat is the guarantee
    assert phases["beat_killed"]["wrong"] == []
    if two_phases:
        assert phases["two_beats"]["beats_running"] == 2
        assert phases["two_beats"]["wrong"] == []
    else:
        assert phases["beat_killed"]["beats_running"] == 2
    assert auto_resume_commands == {"succeeded": len(paused_tickets)}  # one per pause, never a duplicate
    assert load.transport_errors == [], load.transport_errors[:5]
    # start, pause, stop, to_waiting_qc and one auto-resume per paused ticket
    assert_clean_outcome(figures, load, outcome, other_commands=5 * len(paused_tickets))
    assert wrong == [] and wrong_paused == []


def test_beat_killed_while_sessions_are_paused_resumes_each_once_at_its_deadline(fault_stack):
    """Short variant: 5 paused sessions, beat killed and back as two beats, 100 load commands."""
    run_beat_faults(
        fault_stack, name="beat-short", load_tickets=20, paused=5, rate=6, settle_timeout=60,
        two_phases=False,
    )  # fmt: skip


@pytest.mark.fault
def test_beat_killed_and_doubled_under_1000_commands_resumes_each_pause_once(fault_stack):
    """Long variant: 25 sessions with beat killed and restarted, then 25 with two beats; 1,000 load commands."""
    run_beat_faults(
        fault_stack, name="beat-long", load_tickets=200, paused=25, rate=10, settle_timeout=180,
        two_phases=True,
    )  # fmt: skip
