"""Ticket and per-person analytics against a scenario worked out by hand (UTC rules, one day, 2026-11-26).

    ticket   minutes   created  approved  assigned  started  to QC   decision              who
    A        10+15     09:00    09:10     09:30     10:00    10:45   pass 11:00            tech 1 (paused 10:10-10:20)
    B        25+20     09:05    09:25     09:35     09:45    10:45   fail 11:15            tech 2
                                                   11:30    12:00   pass 12:30
    C        40+30     09:20    (still under review)
    E        25+20     13:00    13:01     13:02     13:03    13:33   pass 13:43            tech 1

Stage seconds of the done tickets (A, B, E): review 600, 1200, 60; assignment 1200, 600, 60; start 1800, 600, 60;
work 2700, 3600+1800, 1800; qc 900, 1800+1800, 600; total 7200, 12300, 2580. percentile_cont over three sorted
values v0 <= v1 <= v2: p50 = v1, p90 = v1 + 0.8 (v2 - v1).
"""

import pytest

from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from tests.support.builders import workplace
from tests.support.clock import frozen, nov26, utc
from tests.support.factories import TechnicianFactory, spec

DAY = "from=2026-11-26&to=2026-11-26"


def p50_p90(values):
    _low, mid, high = sorted(values)
    return {"n": 3, "p50": mid, "p90": round(mid + 0.8 * (high - mid), 6)}


@pytest.fixture
def day(admin, master, inspector):
    tech1, tech2 = TechnicianFactory(), TechnicianFactory()

    def ticket(minutes, created, approved=None, assigned=None, technician=None):
        item, parts = workplace()
        specs = [spec(part, m) for part, m in zip(parts, minutes, strict=True)]
        made = workflow.create_ticket(
            inventory_item_id=item.pk, title="t", part_specs=specs, master=master, at=created
        ).ticket
        if approved:
            workflow.approve_ticket_review(ticket_id=made.pk, actor=admin, at=approved)
            workflow.assign_ticket(ticket_id=made.pk, technician_id=technician.pk, actor=master, at=assigned)
        return made

    def round_of_work(made, technician, started, stopped, to_qc, *, pauses=()):
        workflow.start_ticket(ticket_id=made.pk, actor=technician, at=started)
        for paused, resumed in pauses:
            sessions.pause_work_session(ticket_id=made.pk, actor=technician, at=paused)
            sessions.resume_work_session(ticket_id=made.pk, actor=technician, at=resumed)
        sessions.stop_work_session(ticket_id=made.pk, actor=technician, at=stopped)
        workflow.move_ticket_to_waiting_qc(ticket_id=made.pk, actor=technician, at=to_qc)

    a = ticket((10, 15), nov26(9), nov26(9, 10), nov26(9, 30), tech1)
    b = ticket((25, 20), nov26(9, 5), nov26(9, 25), nov26(9, 35), tech2)
    ticket((40, 30), nov26(9, 20))
    round_of_work(b, tech2, nov26(9, 45), nov26(10, 44), nov26(10, 45))
    round_of_work(a, tech1, nov26(10), nov26(10, 40), nov26(10, 45), pauses=[(nov26(10, 10), nov26(10, 20))])
    workflow.pass_ticket_qc(ticket_id=a.pk, actor=inspector, at=nov26(11))
    workflow.fail_ticket_qc(ticket_id=b.pk, actor=inspector, at=nov26(11, 15))
    round_of_work(b, tech2, nov26(11, 30), nov26(11, 59), nov26(12))
    workflow.pass_ticket_qc(ticket_id=b.pk, actor=inspector, at=nov26(12, 30))
    e = ticket((25, 20), nov26(13), nov26(13, 1), nov26(13, 2), tech1)
    round_of_work(e, tech1, nov26(13, 3), nov26(13, 32), nov26(13, 33))
    workflow.pass_ticket_qc(ticket_id=e.pk, actor=inspector, at=nov26(13, 43))
    return tech1, tech2


def read(api, user, path):
    with frozen(nov26(18)):
        response = api.get(path, user)
    assert response.status_code == 200, response.content
    return response.json()


def test_ticket_figures_match_the_hand_computed_day(api, admin, day):
    body = read(api, admin, f"/api/v1/analytics/tickets?{DAY}")

    assert body == {
        "created": 4,
        "done": 3,
        "by_status": {
            "under_review": 1,
            "new": 0,
            "assigned": 0,
            "in_progress": 0,
            "waiting_qc": 0,
            "rework": 0,
            "done": 3,
        },
        "by_flag": {"green": 1, "yellow": 2, "red": 1},
        "first_pass_rate": pytest.approx(2 / 3),
        "rework_rate": 0.25,  # one fail among four QC decisions
        "cycle_seconds": {
            "review": p50_p90([600, 1200, 60]),
            "assignment": p50_p90([1200, 600, 60]),
            "start": p50_p90([1800, 600, 60]),
            "work": p50_p90([2700, 3600 + 1800, 1800]),
            "qc": p50_p90([900, 1800 + 1800, 600]),
            "total": p50_p90([7200, 12300, 2580]),
        },
        "per_day": [{"date": "2026-11-26", "created": 4, "done": 3}],
    }


def test_a_range_lists_every_day_and_counts_only_what_happened_in_it(api, admin, day):
    around = read(api, admin, "/api/v1/analytics/tickets?from=2026-11-25&to=2026-11-27")
    before = read(api, admin, "/api/v1/analytics/tickets?from=2026-11-20&to=2026-11-25")

    assert around["per_day"] == [
        {"date": "2026-11-25", "created": 0, "done": 0},
        {"date": "2026-11-26", "created": 4, "done": 3},
        {"date": "2026-11-27", "created": 0, "done": 0},
    ]
    assert (before["created"], before["done"], before["first_pass_rate"], before["rework_rate"]) == (0, 0, None, None)
    assert before["by_status"]["done"] == 3  # by_status is now, whatever the range
    assert before["cycle_seconds"]["total"] == {"n": 0, "p50": None, "p90": None}


def test_technicians_summary_of_the_day(api, admin, inspector, day):
    tech1, tech2 = day
    body = read(api, admin, f"/api/v1/analytics/technicians?{DAY}")

    assert (body["from"], body["to"], body["timezone"]) == ("2026-11-26", "2026-11-26", "UTC")
    items = {item["technician_id"]: item for item in body["items"]}
    assert inspector.pk not in items  # not a technician, and held no ticket
    assert items[tech1.pk] == {
        "technician_id": tech1.pk,
        "active_seconds": 1800 + 1740,  # A: 10:00-10:40 less the pause; E: 13:03-13:32
        "paused_seconds": 600,
        "auto_resumes": 0,
        "sessions": 2,
        "tickets_done": 2,
        "first_pass_rate": 1.0,
        "qc_fails": 0,
        "xp": 2 + 3 + 1,  # A: ceil(25/20), over plan so no bonus; E: ceil(45/20) and the first-pass bonus
    }
    assert items[tech2.pk] == {
        "technician_id": tech2.pk,
        "active_seconds": 3540 + 1740,
        "paused_seconds": 0,
        "auto_resumes": 0,
        "sessions": 2,
        "tickets_done": 1,
        "first_pass_rate": 0.0,
        "qc_fails": 1,
        "xp": 3,
    }


def test_the_leaderboard_ranks_by_xp_and_honours_the_limit(api, admin, inspector, day):
    tech1, tech2 = day
    body = read(api, admin, f"/api/v1/analytics/leaderboard?{DAY}")
    top = read(api, admin, f"/api/v1/analytics/leaderboard?{DAY}&limit=1")
    other_day = read(api, admin, "/api/v1/analytics/leaderboard?from=2026-11-27&to=2026-11-27")

    assert body["items"] == [
        {"technician_id": tech1.pk, "xp": 6, "tickets_done": 2, "first_pass_rate": 1.0},
        {"technician_id": inspector.pk, "xp": 4, "tickets_done": 0, "first_pass_rate": None},  # 4 QC decisions
        {"technician_id": tech2.pk, "xp": 3, "tickets_done": 1, "first_pass_rate": 0.0},
    ]
    assert top["items"] == body["items"][:1]
    assert other_day["items"] == []


def test_a_qc_fail_counts_for_the_technician_who_held_the_ticket_then(api, admin, master, day):
    """Reassigning the failed ticket afterwards does not move the fail to the new technician."""
    tech1, tech2 = day
    item, parts = workplace()
    made = workflow.create_ticket(
        inventory_item_id=item.pk, title="t", part_specs=[spec(parts[0], 5)], master=master, at=utc(2026, 11, 27, 9)
    ).ticket
    workflow.approve_ticket_review(ticket_id=made.pk, actor=admin, at=utc(2026, 11, 27, 9, 1))
    workflow.assign_ticket(ticket_id=made.pk, technician_id=tech1.pk, actor=master, at=utc(2026, 11, 27, 9, 2))
    workflow.start_ticket(ticket_id=made.pk, actor=tech1, at=utc(2026, 11, 27, 9, 3))
    sessions.stop_work_session(ticket_id=made.pk, actor=tech1, at=utc(2026, 11, 27, 9, 4))
    workflow.move_ticket_to_waiting_qc(ticket_id=made.pk, actor=tech1, at=utc(2026, 11, 27, 9, 5))
    workflow.fail_ticket_qc(ticket_id=made.pk, actor=admin, at=utc(2026, 11, 27, 9, 6))
    workflow.assign_ticket(ticket_id=made.pk, technician_id=tech2.pk, actor=master, at=utc(2026, 11, 27, 9, 7))

    with frozen(utc(2026, 11, 27, 18)):
        body = api.get("/api/v1/analytics/technicians?from=2026-11-27&to=2026-11-27", admin).json()
    fails = {item["technician_id"]: item["qc_fails"] for item in body["items"]}
    assert (fails[tech1.pk], fails[tech2.pk]) == (1, 0)
