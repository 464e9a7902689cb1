"""The event feed over HTTP while a real worker applies a ticket's life: an upstream system long-polling with
`Prefer: wait` and paging with `next_after` gets every change once, in order, as the worker commits it."""

import threading

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Follower(threading.Thread):
    """Pages /api/v1/events with next_after and `Prefer: wait=5` until told to stop and a page comes back empty."""

    def __init__(self, client):
        super().__init__()
        self.client, self.items, self.pages, self.error = client, [], 0, None
        self.stopping = threading.Event()

    def run(self):
        after = 0
        try:
            while True:
                response = self.client.http.get("/api/v1/events", params={"after": after}, headers={"Prefer": "wait=5"})
                assert response.status_code == 200, response.text
                page = response.json()
                self.pages += 1
                self.items += page["items"]
                after = page["next_after"]
                if not page["items"] and self.stopping.is_set():
                    return
        except BaseException as error:  # reported by the test
            self.error = error


def test_a_service_following_the_feed_sees_the_whole_life_once_in_order(worker, clients, people):
    admin, master, tech, qc = clients["admin"], clients["master"], clients["tech"], clients["qc"]
    follower = Follower(clients["service"])
    follower.start()
    item = admin.http.post("/api/v1/inventory-items", json={"serial_number": "E2E-EV", "name": "Cargo bike"}).json()
    part = master.http.post(f"/api/v1/inventory-items/{item['id']}/parts", json={"name": "hub"}).json()
    created = master.run(
        {
            "type": "ticket.create",
            "inventory_item_id": item["id"],
            "title": "Hub grinds",
            "part_specs": [{"inventory_item_part_id": part["id"], "color": "green", "minutes": 20}],
        }
    )
    tid = created["ticket_id"]
    steps = [
        (admin, {"type": "ticket.approve_review", "ticket_id": tid}),
        (master, {"type": "ticket.assign", "ticket_id": tid, "technician_id": people["tech"].pk}),
        (tech, {"type": "ticket.start", "ticket_id": tid}),
        (tech, {"type": "work_session.pause", "ticket_id": tid}),
        (tech, {"type": "work_session.pause", "ticket_id": tid}),  # refused: already paused
        (tech, {"type": "work_session.stop", "ticket_id": tid}),
        (tech, {"type": "ticket.to_waiting_qc", "ticket_id": tid}),
        (qc, {"type": "ticket.qc_pass", "ticket_id": tid}),
    ]
    outcomes = [created] + [client.run(body) for client, body in steps]
    follower.stopping.set()
    follower.join(timeout=30)
    assert not follower.is_alive() and follower.error is None, follower.error

    events = follower.items
    assert [e["position"] for e in events] == sorted({e["position"] for e in events})  # once each, in order
    assert [e["type"] for e in events if e["ticket_id"] == tid] == [
        "ticket.created",
        "ticket.review_approved",
        "ticket.assigned",
        "ticket.started",
        "work_session.started",
        "work_session.paused",
        "command.rejected",
        "work_session.stopped",
        "ticket.to_waiting_qc",
        "ticket.qc_pass",
        "xp.awarded",
        "xp.awarded",
        "xp.awarded",
    ]
    # Each event names the command whose application made it, in the order the commands ran.
    made_by = list(dict.fromkeys(e["command_id"] for e in events if e["ticket_id"] == tid))
    assert made_by == [o["id"] for o in outcomes]
    assert follower.pages < 3 * len(events)  # it waited for events rather than spinning on empty pages
