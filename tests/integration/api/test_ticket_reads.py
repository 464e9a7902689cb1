"""Reads of tickets, their history and work sessions, pause budgets and XP. State is built through the services."""

import re
from datetime import timedelta

import pytest
import time_machine

from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
TICKET_FIELDS = {
    "id",
    "inventory_item_id",
    "title",
    "status",
    "master_id",
    "technician_id",
    "approved_by_id",
    "approved_at",
    "assigned_at",
    "started_at",
    "finished_at",
    "total_duration",
    "flag_minutes",
    "flag_color",
    "xp_amount",
    "is_manual",
    "part_specs",
    "created_at",
    "updated_at",
}
PART_SPEC_FIELDS = {"id", "inventory_item_part_id", "color", "minutes", "comment"}
TRANSITION_FIELDS = {"id", "action", "from_status", "to_status", "actor_id", "note", "metadata", "created_at"}
SESSION_FIELDS = {
    "id",
    "ticket_id",
    "technician_id",
    "status",
    "started_at",
    "ended_at",
    "active_seconds",
    "live_active_seconds",
    "auto_resume_at",
    "transitions",
}
SESSION_TRANSITION_FIELDS = {"id", "action", "from_status", "to_status", "actor_id", "event_at", "metadata"}


def _utc(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _same_instant(text: str, value) -> bool:
    assert RFC3339_UTC.match(text), text
    return text.replace("Z", "+00:00") == value.isoformat() or text == _utc(value)


def _item_with_parts(*names):
    item = InventoryItemFactory()
    return item, [InventoryItemPartFactory(inventory_item=item, name=name) for name in names]


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def three_tickets(shop, other_technician):
    """under_review (45 min, yellow) on shop.item; assigned to shop.technician (10 min, green) on a second item;
    in progress with other_technician (80 min, red) on a third."""
    reviewed = shop.create(minutes=(25, 20))
    item_b, parts_b = _item_with_parts("bell")
    assigned = shop.assigned(item=item_b, parts=parts_b, minutes=(10,))
    item_c, parts_c = _item_with_parts("fork", "hub")
    in_progress = shop.started(technician=other_technician, item=item_c, parts=parts_c, minutes=(50, 30)).ticket
    return reviewed, assigned, in_progress


# --- tickets ---------------------------------------------------------------------------------------------------


def test_the_ticket_list_filters_by_status_technician_item_and_flag_color(api, nobody, three_tickets, other_technician):
    reviewed, assigned, in_progress = three_tickets
    get = lambda query: set(_ids(api.get(f"/api/v1/tickets?{query}", nobody)))  # noqa: E731

    assert get("") == {reviewed.pk, assigned.pk, in_progress.pk}
    assert get("status=under_review") == {reviewed.pk}
    assert get("status=assigned") == {assigned.pk}
    assert get("status=in_progress") == {in_progress.pk}
    assert get("status=done") == set()
    assert get(f"technician_id={assigned.technician_id}") == {assigned.pk}
    assert get(f"technician_id={other_technician.pk}") == {in_progress.pk}
    assert get(f"inventory_item_id={in_progress.inventory_item_id}") == {in_progress.pk}
    assert get("flag_color=yellow") == {reviewed.pk}
    assert get("flag_color=green") == {assigned.pk}
    assert get("flag_color=red") == {in_progress.pk}
    assert get(f"status=assigned&technician_id={other_technician.pk}") == set()


def test_the_ticket_list_pages_through_next_cursor(api, nobody, three_tickets):
    first = api.get("/api/v1/tickets?limit=2", nobody).json()
    second = api.get(f"/api/v1/tickets?limit=2&cursor={first['next_cursor']}", nobody).json()

    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    seen = {item["id"] for item in first["items"] + second["items"]}
    assert seen == {ticket.pk for ticket in three_tickets}


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("status=paused", ["query", "status"]),
        ("flag_color=blue", ["query", "flag_color"]),
        ("technician_id=me", ["query", "technician_id"]),
        (f"inventory_item_id={2**70}", ["query", "inventory_item_id"]),
        ("limit=0", ["query", "limit"]),
        ("limit=201", ["query", "limit"]),
        ("cursor=%%%", ["query", "cursor"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_ticket_list_query_is_a_validation_error(api, nobody, query, loc):
    assert_validation_problem(api.get(f"/api/v1/tickets?{query}", nobody), loc)


def test_a_ticket_has_every_field_of_the_contract(api, nobody, shop):
    ticket = shop.started().ticket

    response = api.get(f"/api/v1/tickets/{ticket.pk}", nobody)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == TICKET_FIELDS
    assert body["id"] == ticket.pk
    assert body["inventory_item_id"] == shop.item.pk
    assert body["title"] == "fix it"
    assert body["status"] == "in_progress"
    assert body["master_id"] == shop.master.pk
    assert body["technician_id"] == shop.technician.pk
    assert body["approved_by_id"] == shop.admin.pk
    assert _same_instant(body["approved_at"], ticket.approved_at)
    assert _same_instant(body["assigned_at"], ticket.assigned_at)
    assert _same_instant(body["started_at"], ticket.started_at)
    assert body["finished_at"] is None
    assert (body["total_duration"], body["flag_minutes"], body["flag_color"]) == (45, 45, "yellow")
    assert body["xp_amount"] == 3
    assert body["is_manual"] is False
    assert RFC3339_UTC.match(body["created_at"]) and RFC3339_UTC.match(body["updated_at"])
    assert [set(spec) for spec in body["part_specs"]] == [PART_SPEC_FIELDS] * 2
    assert [(s["inventory_item_part_id"], s["color"], s["minutes"], s["comment"]) for s in body["part_specs"]] == [
        (shop.parts[0].pk, "green", 25, ""),
        (shop.parts[1].pk, "green", 20, ""),
    ]


def test_a_ticket_under_review_has_no_approval_assignment_or_start(api, nobody, shop):
    ticket = shop.create()

    body = api.get(f"/api/v1/tickets/{ticket.pk}", nobody).json()

    assert body["status"] == "under_review"
    assert body["technician_id"] is body["approved_by_id"] is None
    assert body["approved_at"] is body["assigned_at"] is body["started_at"] is body["finished_at"] is None


@pytest.mark.parametrize("suffix", ["", "/transitions", "/work-sessions"])
@pytest.mark.parametrize("ticket_id", [999_999, 2**63 - 1, 2**70], ids=["unknown", "max_bigint", "huge"])
def test_an_unknown_ticket_is_not_found(api, nobody, shop, ticket_id, suffix):
    shop.create()

    assert_problem(api.get(f"/api/v1/tickets/{ticket_id}{suffix}", nobody), 404, "not_found")


def test_a_ticket_history_is_listed_oldest_first(api, nobody, shop):
    ticket = shop.started().ticket

    response = api.get(f"/api/v1/tickets/{ticket.pk}/transitions", nobody)

    body = response.json()
    assert body["next_cursor"] is None
    assert all(set(row) == TRANSITION_FIELDS for row in body["items"])
    assert [(r["action"], r["from_status"], r["to_status"], r["actor_id"]) for r in body["items"]] == [
        ("created", None, "under_review", shop.master.pk),
        ("review_approved", "under_review", "new", shop.admin.pk),
        ("assigned", "new", "assigned", shop.master.pk),
        ("started", "assigned", "in_progress", shop.technician.pk),
    ]
    ids = [row["id"] for row in body["items"]]
    assert ids == sorted(ids)
    assert all(RFC3339_UTC.match(row["created_at"]) and isinstance(row["metadata"], dict) for row in body["items"])


def test_a_ticket_history_pages_in_order(api, nobody, shop):
    ticket = shop.started().ticket

    first = api.get(f"/api/v1/tickets/{ticket.pk}/transitions?limit=3", nobody).json()
    rest = api.get(f"/api/v1/tickets/{ticket.pk}/transitions?limit=3&cursor={first['next_cursor']}", nobody).json()

    actions = [row["action"] for row in first["items"] + rest["items"]]
    assert actions == ["created", "review_approved", "assigned", "started"]
    assert rest["next_cursor"] is None


def test_the_qc_note_is_in_the_history(api, nobody, shop):
    ticket = shop.waiting_qc()
    workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick(), note="chain is loose")

    items = api.get(f"/api/v1/tickets/{ticket.pk}/transitions", nobody).json()["items"]

    assert (items[-1]["action"], items[-1]["note"], items[-1]["to_status"]) == ("qc_fail", "chain is loose", "rework")


# --- work sessions ---------------------------------------------------------------------------------------------


def test_work_sessions_are_listed_with_their_transitions(api, nobody, shop):
    started = shop.started()
    ticket, session = started.ticket, started.work_session
    t_start = shop.now
    t_pause = shop.tick(60)
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=t_pause)
    t_resume = shop.tick(120)
    sessions.resume_work_session(ticket_id=ticket.pk, actor=shop.technician, at=t_resume)
    t_stop = shop.tick(30)
    sessions.stop_work_session(ticket_id=ticket.pk, actor=shop.technician, at=t_stop)

    with time_machine.travel(shop.now + timedelta(minutes=5), tick=False):
        body = api.get(f"/api/v1/tickets/{ticket.pk}/work-sessions", nobody).json()

    assert body["next_cursor"] is None
    [item] = body["items"]
    assert set(item) == SESSION_FIELDS
    assert (item["id"], item["ticket_id"], item["technician_id"], item["status"]) == (
        session.pk,
        ticket.pk,
        shop.technician.pk,
        "stopped",
    )
    assert _same_instant(item["started_at"], t_start)
    assert _same_instant(item["ended_at"], t_stop)
    assert item["active_seconds"] == item["live_active_seconds"] == 90
    assert item["auto_resume_at"] is None
    assert all(set(row) == SESSION_TRANSITION_FIELDS for row in item["transitions"])
    assert [(r["action"], r["from_status"], r["to_status"], r["actor_id"]) for r in item["transitions"]] == [
        ("started", None, "running", shop.technician.pk),
        ("paused", "running", "paused", shop.technician.pk),
        ("resumed", "paused", "running", shop.technician.pk),
        ("stopped", "running", "stopped", shop.technician.pk),
    ]
    assert [r["event_at"] for r in item["transitions"]] == [_utc(t) for t in (t_start, t_pause, t_resume, t_stop)]
    pause = item["transitions"][1]["metadata"]
    assert pause["remaining_pause_seconds_today"] == 1800
    assert pause["auto_resume_at"] == _utc(t_pause + timedelta(seconds=1800))


def test_a_running_session_counts_live_seconds_up_to_the_read(api, nobody, shop):
    ticket = shop.started().ticket
    started_at = shop.now

    with time_machine.travel(started_at + timedelta(seconds=600), tick=False):
        [item] = api.get(f"/api/v1/tickets/{ticket.pk}/work-sessions", nobody).json()["items"]

    assert item["status"] == "running"
    assert item["ended_at"] is None
    assert item["active_seconds"] == 0
    assert item["live_active_seconds"] == 600


def test_a_paused_session_shows_when_it_will_resume(api, nobody, shop):
    ticket = shop.started().ticket
    paused_at = shop.tick(60)
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=paused_at)

    with time_machine.travel(paused_at + timedelta(seconds=10), tick=False):
        [item] = api.get(f"/api/v1/tickets/{ticket.pk}/work-sessions", nobody).json()["items"]

    assert item["status"] == "paused"
    assert item["auto_resume_at"] == _utc(paused_at + timedelta(seconds=1800))
    assert item["active_seconds"] == item["live_active_seconds"] == 60


def test_a_ticket_without_sessions_has_an_empty_list(api, nobody, shop):
    ticket = shop.assigned()

    assert api.get(f"/api/v1/tickets/{ticket.pk}/work-sessions", nobody).json() == {"items": [], "next_cursor": None}


# --- pause budget ----------------------------------------------------------------------------------------------

BUDGET_FIELDS = {
    "technician_id",
    "date",
    "timezone",
    "limit_seconds",
    "used_seconds",
    "remaining_seconds",
    "paused_session_id",
    "auto_resume_at",
}


def test_the_pause_budget_of_a_day_counts_that_days_pauses(api, nobody, shop):
    ticket = shop.started().ticket
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(60))
    sessions.resume_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(120))
    day = shop.now.date().isoformat()

    with time_machine.travel(shop.now + timedelta(hours=1), tick=False):
        response = api.get(f"/api/v1/technicians/{shop.technician.pk}/pause-budget?date={day}", nobody)

    assert response.status_code == 200
    assert response.json() == {
        "technician_id": shop.technician.pk,
        "date": day,
        "timezone": "UTC",
        "limit_seconds": 1800,
        "used_seconds": 120,
        "remaining_seconds": 1680,
        "paused_session_id": None,
        "auto_resume_at": None,
    }


def test_the_pause_budget_defaults_to_today_and_shows_an_open_pause(api, nobody, shop):
    started = shop.started()
    paused_at = shop.tick(60)
    sessions.pause_work_session(ticket_id=started.ticket.pk, actor=shop.technician, at=paused_at)

    with time_machine.travel(paused_at + timedelta(seconds=300), tick=False):
        response = api.get(f"/api/v1/technicians/{shop.technician.pk}/pause-budget", nobody)

    body = response.json()
    assert set(body) == BUDGET_FIELDS
    assert body["date"] == paused_at.date().isoformat()
    assert (body["used_seconds"], body["remaining_seconds"]) == (300, 1500)
    assert body["paused_session_id"] == started.work_session.pk
    assert body["auto_resume_at"] == _utc(paused_at + timedelta(seconds=1800))


def test_the_pause_budget_of_another_day_is_untouched(api, nobody, shop):
    ticket = shop.started().ticket
    sessions.pause_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(60))
    sessions.resume_work_session(ticket_id=ticket.pk, actor=shop.technician, at=shop.tick(120))
    other_day = (shop.now - timedelta(days=1)).date().isoformat()

    body = api.get(f"/api/v1/technicians/{shop.technician.pk}/pause-budget?date={other_day}", nobody).json()

    assert (body["date"], body["used_seconds"], body["remaining_seconds"]) == (other_day, 0, 1800)


@pytest.mark.parametrize("day", ["2026-13-01", "2026-02-30", "yesterday", "26/11/2026", "2026-11-26T10:00:00"])
def test_a_bad_pause_budget_date_is_a_validation_error(api, nobody, technician, day):
    response = api.get(f"/api/v1/technicians/{technician.pk}/pause-budget?date={day}", nobody)

    assert_validation_problem(response, ["query", "date"])


# --- XP --------------------------------------------------------------------------------------------------------


def test_xp_lists_a_technicians_entries_and_total(api, nobody, shop):
    ticket = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    technician = api.get(f"/api/v1/technicians/{shop.technician.pk}/xp", nobody).json()
    inspector = api.get(f"/api/v1/technicians/{shop.inspector.pk}/xp", nobody).json()

    assert set(technician) == {"technician_id", "total", "entries", "next_cursor"}
    assert technician["technician_id"] == shop.technician.pk
    assert all(
        set(entry) == {"id", "kind", "amount", "reference", "ticket_id", "created_at"}
        for entry in technician["entries"]
    )
    # Newest first; both were written at the QC pass, the bonus after the base.
    assert [(e["kind"], e["amount"], e["ticket_id"]) for e in technician["entries"]] == [
        ("ticket_first_pass_bonus", 1, ticket.pk),
        ("ticket_base_xp", 3, ticket.pk),
    ]
    assert technician["next_cursor"] is None
    assert technician["total"] == 4
    assert [(e["kind"], e["amount"]) for e in inspector["entries"]] == [("qc_status_update", 1)]
    assert inspector["total"] == 1
    assert all(RFC3339_UTC.match(e["created_at"]) and e["reference"] for e in technician["entries"])


def test_a_user_without_xp_has_a_zero_total(api, nobody, technician):
    body = api.get(f"/api/v1/technicians/{technician.pk}/xp", nobody).json()

    assert body == {"technician_id": technician.pk, "total": 0, "entries": [], "next_cursor": None}


@pytest.mark.parametrize("path", ["pause-budget", "xp"])
@pytest.mark.parametrize("user_id", [987654, 2**70])
def test_a_technician_who_does_not_exist_is_not_found(api, nobody, path, user_id):
    response = api.get(f"/api/v1/technicians/{user_id}/{path}", nobody)

    assert_problem(response, 404, "not_found")
