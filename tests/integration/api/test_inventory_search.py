"""PATCH /inventory-items/{id} renames or recategorises an item (never its serial number); the list searches by a
case-insensitive substring of serial or name (`q`), by `status` and by whether an open ticket exists."""

import pytest
from django.db import connection

from apps.inventory.api import ItemFilters, matching_items
from apps.inventory.models import InventoryItem
from apps.ticket import services_workflow as workflow
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory


def patch(api, user, item_id: int, body):
    return api.send("PATCH", f"/api/v1/inventory-items/{item_id}", body, user)


def listed(api, reader, query: str) -> list[str]:
    response = api.get(f"/api/v1/inventory-items?{query}", reader)
    assert response.status_code == 200, response.content
    return sorted(item["serial_number"] for item in response.json()["items"])


# --- PATCH --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "master"])
def test_an_admin_or_master_renames_and_recategorises_an_item(request, api, nobody, item, role):
    response = patch(api, request.getfixturevalue(role), item.pk, {"name": "  Cargo bike XL ", "category": "cargo"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["serial_number"], body["name"], body["category"]) == (
        item.pk,
        item.serial_number,
        "Cargo bike XL",
        "cargo",
    )
    assert api.get(f"/api/v1/inventory-items/{item.pk}", nobody).json() == body


def test_a_field_left_out_keeps_its_value(api, master, item):
    body = patch(api, master, item.pk, {"category": ""}).json()

    assert (body["name"], body["category"]) == (item.name, "")
    assert InventoryItem.objects.get(pk=item.pk).name == item.name


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"serial_number": "SN-NEW"}, ["body", "serial_number"]),
        ({"name": "ok", "serial_number": "SN-NEW"}, ["body", "serial_number"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": None}, ["body", "name"]),
        ({"name": "n" * 256}, ["body", "name"]),
        ({"name": 5}, ["body", "name"]),
        ({"category": "c" * 129}, ["body", "category"]),
        ({"category": None}, ["body", "category"]),
        ({"status": "in_service"}, ["body", "status"]),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_a_patch_outside_the_contract_is_a_422_and_changes_nothing(api, admin, item, body, loc):
    assert_validation_problem(patch(api, admin, item.pk, body), loc)

    unchanged = InventoryItem.objects.get(pk=item.pk)
    assert (unchanged.serial_number, unchanged.name, unchanged.category) == (item.serial_number, item.name, "bike")


@pytest.mark.parametrize("role", ["technician", "inspector", "nobody"])
def test_other_roles_may_not_change_an_item(request, api, item, role):
    assert_problem(patch(api, request.getfixturevalue(role), item.pk, {"name": "mine"}), 403, "forbidden")
    assert InventoryItem.objects.get(pk=item.pk).name == item.name


def test_patching_an_unknown_item_is_a_404(api, admin):
    assert_problem(patch(api, admin, 987654, {"name": "ghost"}), 404, "not_found")


# --- search -------------------------------------------------------------------------------------------------------


def with_parts(serial: str, name: str):
    item = InventoryItemFactory(serial_number=serial, name=name)
    return item, [InventoryItemPartFactory(inventory_item=item, name=part) for part in ("fork", "wheel")]


@pytest.fixture
def fleet(shop, other_technician):
    """Five items: idle (the shop's own, never serviced), queued (a ticket under review), working (a ticket in
    progress: in service), serviced (its only ticket done) and one whose name holds LIKE's wildcards."""
    InventoryItem.objects.filter(pk=shop.item.pk).update(serial_number="CB-100", name="Cargo Bike")
    queued, queued_parts = with_parts("ES-200", "E-Scooter")
    shop.create(item=queued, parts=queued_parts)
    working, working_parts = with_parts("CB-300", "cargo trike")
    shop.started(item=working, parts=working_parts)
    serviced, serviced_parts = with_parts("TB-400", "Touring bike")
    done = shop.waiting_qc(other_technician, item=serviced, parts=serviced_parts)
    workflow.pass_ticket_qc(ticket_id=done.pk, actor=shop.inspector, at=shop.tick())
    with_parts("XX-500", "100%_off scooter")
    return shop


@pytest.mark.parametrize(
    ("query", "serials"),
    [
        ("q=cb-", ["CB-100", "CB-300"]),  # the serial, in any case
        ("q=CARGO", ["CB-100", "CB-300"]),  # the name, in any case
        ("q=bike", ["CB-100", "TB-400"]),
        ("q=00", ["CB-100", "CB-300", "ES-200", "TB-400", "XX-500"]),
        ("q=100%25_", ["XX-500"]),  # % and _ are characters here, not wildcards
        ("q=0%25", ["XX-500"]),
        ("q=nothing-like-it", []),
        ("status=in_service", ["CB-300"]),
        ("status=ready", ["CB-100", "ES-200", "TB-400", "XX-500"]),
        ("has_active_ticket=true", ["CB-300", "ES-200"]),
        ("has_active_ticket=false", ["CB-100", "TB-400", "XX-500"]),
        ("q=cargo&has_active_ticket=false", ["CB-100"]),
        ("q=e&status=ready&has_active_ticket=true", ["ES-200"]),
        ("q=", ["CB-100", "CB-300", "ES-200", "TB-400", "XX-500"]),
    ],
)
def test_the_list_filters_by_substring_status_and_open_ticket(api, nobody, fleet, query, serials):
    assert listed(api, nobody, query) == serials


def test_a_search_pages_like_the_whole_list(api, nobody, fleet):
    first = api.get("/api/v1/inventory-items?q=b&limit=2", nobody).json()
    rest = api.get(f"/api/v1/inventory-items?q=b&limit=2&cursor={first['next_cursor']}", nobody).json()

    assert [i["serial_number"] for i in first["items"] + rest["items"]] == ["CB-100", "CB-300", "TB-400"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("status=broken", ["query", "status"]),
        ("has_active_ticket=maybe", ["query", "has_active_ticket"]),
        (f"q={'q' * 129}", ["query", "q"]),
        ("q=%00", ["query", "q"]),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(api, nobody, query, loc):
    assert_validation_problem(api.get(f"/api/v1/inventory-items?{query}", nobody), loc)


def test_a_substring_search_can_use_the_trigram_indexes(fleet):
    """The indexes are built on the very expressions the search's `icontains` writes, so the planner may use them
    (told not to scan the table, as it would on a table this small)."""
    items = matching_items(ItemFilters(q="trike"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = items.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "inventory_item_serial_trgm" in plan and "inventory_item_name_trgm" in plan, plan
