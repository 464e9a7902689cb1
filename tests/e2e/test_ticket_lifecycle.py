"""A ticket's whole life through HTTP only: real Redis, a real worker process, the live server."""

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_ticket_lives_its_whole_life_through_commands(worker, clients, people):
    admin, master, tech, qc = clients["admin"], clients["master"], clients["tech"], clients["qc"]
    item = admin.http.post("/api/v1/inventory-items", json={"serial_number": "E2E-1", "name": "City bike"}).json()
    brakes = master.http.post(f"/api/v1/inventory-items/{item['id']}/parts", json={"name": "brakes"}).json()
    chain = master.http.post(f"/api/v1/inventory-items/{item['id']}/parts", json={"name": "chain"}).json()

    created = master.run(
        {
            "type": "ticket.create",
            "inventory_item_id": item["id"],
            "title": "Brakes squeal",
            "part_specs": [
                {"inventory_item_part_id": brakes["id"], "color": "yellow", "minutes": 25},
                {"inventory_item_part_id": chain["id"], "color": "green", "minutes": 20, "comment": "oil"},
            ],
        }
    )
    assert created["status"] == "succeeded", created
    ticket = created["result"]["ticket"]
    assert (ticket["total_duration"], ticket["flag_color"], ticket["xp_amount"]) == (45, "yellow", 3)
    tid = ticket["id"]
    assert created["ticket_id"] == tid

    steps = [
        (admin, {"type": "ticket.approve_review", "ticket_id": tid}),
        (master, {"type": "ticket.assign", "ticket_id": tid, "technician_id": people["tech"].pk}),
        (tech, {"type": "ticket.start", "ticket_id": tid}),
        (tech, {"type": "work_session.pause", "ticket_id": tid}),
        (tech, {"type": "work_session.resume", "ticket_id": tid}),
        (tech, {"type": "work_session.stop", "ticket_id": tid}),
        (tech, {"type": "ticket.to_waiting_qc", "ticket_id": tid, "note": "done"}),
        (qc, {"type": "ticket.qc_fail", "ticket_id": tid, "note": "still squeals"}),
        (tech, {"type": "ticket.start", "ticket_id": tid}),
        (tech, {"type": "work_session.stop", "ticket_id": tid}),
        (tech, {"type": "ticket.to_waiting_qc", "ticket_id": tid}),
        (qc, {"type": "ticket.qc_pass", "ticket_id": tid}),
    ]
    outcomes = [client.run(body) for client, body in steps]
    assert [o["status"] for o in outcomes] == ["succeeded"] * len(steps), [o["error"] for o in outcomes]

    final = admin.get(f"/api/v1/tickets/{tid}")
    assert final["status"] == "done" and final["finished_at"] is not None
    transitions = admin.get(f"/api/v1/tickets/{tid}/transitions")["items"]
    assert [(t["action"], t["from_status"], t["to_status"]) for t in transitions] == [
        ("created", None, "under_review"),
        ("review_approved", "under_review", "new"),
        ("assigned", "new", "assigned"),
        ("started", "assigned", "in_progress"),
        ("to_waiting_qc", "in_progress", "waiting_qc"),
        ("qc_fail", "waiting_qc", "rework"),
        ("started", "rework", "in_progress"),
        ("to_waiting_qc", "in_progress", "waiting_qc"),
        ("qc_pass", "waiting_qc", "done"),
    ]
    assert transitions[5]["note"] == "still squeals" and transitions[5]["actor_id"] == people["qc"].pk

    sessions = admin.get(f"/api/v1/tickets/{tid}/work-sessions")["items"]
    assert [[t["action"] for t in s["transitions"]] for s in sessions] == [
        ["started", "paused", "resumed", "stopped"],
        ["started", "stopped"],
    ]
    assert all(s["status"] == "stopped" and s["technician_id"] == people["tech"].pk for s in sessions)
    pause = sessions[0]["transitions"][1]
    assert pause["metadata"]["remaining_pause_seconds_today"] == 1800
    assert pause["metadata"]["auto_resume_at"]

    tech_xp = admin.get(f"/api/v1/technicians/{people['tech'].pk}/xp")
    assert tech_xp["total"] == 3  # base XP only: the ticket failed QC once, so no first-pass bonus
    assert [e["kind"] for e in tech_xp["entries"]] == ["ticket_base_xp"]
    qc_xp = admin.get(f"/api/v1/technicians/{people['qc'].pk}/xp")
    assert [e["kind"] for e in qc_xp["entries"]] == ["qc_status_update", "qc_status_update"]

    assert admin.get(f"/api/v1/inventory-items/{item['id']}")["status"] == "ready"
