"""Inventory items and their parts: synchronous writes for admins and masters, reads for everyone."""

import re

import pytest

from apps.inventory.models import InventoryItem, InventoryItemPart
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.factories import InventoryItemFactory, InventoryItemPartFactory

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ITEM = {"serial_number": "SN-42", "name": "Cargo bike", "category": "bike"}


@pytest.mark.parametrize("role", ["admin", "master"])
def test_an_admin_or_master_registers_an_item(request, api, role):
    response = api.post("/api/v1/inventory-items", ITEM, request.getfixturevalue(role))

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "serial_number", "name", "category", "status", "created_at"}
    assert (body["serial_number"], body["name"], body["category"], body["status"]) == (
        "SN-42",
        "Cargo bike",
        "bike",
        "ready",
    )
    assert RFC3339_UTC.match(body["created_at"])
    assert InventoryItem.objects.get(pk=body["id"]).serial_number == "SN-42"


def test_the_category_is_optional(api, master):
    response = api.post("/api/v1/inventory-items", {"serial_number": "SN-1", "name": "Bike"}, master)

    assert response.status_code == 201
    assert response.json()["category"] == ""


@pytest.mark.parametrize("role", ["technician", "inspector", "nobody"])
def test_other_roles_may_not_register_items_or_parts(request, api, item, role):
    user = request.getfixturevalue(role)

    assert_problem(api.post("/api/v1/inventory-items", ITEM, user), 403, "forbidden")
    assert_problem(api.post(f"/api/v1/inventory-items/{item.pk}/parts", {"name": "bell"}, user), 403, "forbidden")
    assert not InventoryItem.objects.filter(serial_number="SN-42").exists()
    assert not InventoryItemPart.objects.filter(name="bell").exists()


def test_a_duplicate_serial_number_is_a_conflict(api, master):
    api.post("/api/v1/inventory-items", ITEM, master)

    response = api.post("/api/v1/inventory-items", {**ITEM, "name": "Another bike"}, master)

    assert_problem(response, 409, "conflict")
    assert InventoryItem.objects.filter(serial_number="SN-42").count() == 1


INVALID_ITEMS = {
    "missing_serial": ({"name": "Bike"}, ["body", "serial_number"]),
    "missing_name": ({"serial_number": "SN-1"}, ["body", "name"]),
    "blank_name": ({"serial_number": "SN-1", "name": "   "}, ["body", "name"]),
    "serial_129_chars": ({"serial_number": "s" * 129, "name": "Bike"}, ["body", "serial_number"]),
    "name_256_chars": ({"serial_number": "SN-1", "name": "n" * 256}, ["body", "name"]),
    "nul_in_name": ({"serial_number": "SN-1", "name": "Bi\x00ke"}, ["body", "name"]),
    "serial_not_a_string": ({"serial_number": 42, "name": "Bike"}, ["body", "serial_number"]),
    "extra_field": ({"serial_number": "SN-1", "name": "Bike", "colour": "red"}, ["body", "colour"]),
    "array_body": ([ITEM], ["body"]),
}


@pytest.mark.parametrize(("body", "loc"), list(INVALID_ITEMS.values()), ids=list(INVALID_ITEMS))
def test_an_invalid_item_is_a_validation_error(api, master, body, loc):
    assert_validation_problem(api.post("/api/v1/inventory-items", body, master), loc)
    assert not InventoryItem.objects.exists()


def test_a_lone_surrogate_in_a_name_is_a_validation_error(api, master):
    response = api.post("/api/v1/inventory-items", b'{"serial_number": "SN-1", "name": "\\udfff"}', master)

    assert_validation_problem(response, ["body", "name"])


def test_a_nul_byte_in_the_serial_number_filter_is_refused_without_a_server_error(api, nobody):
    assert_problem(api.get("/api/v1/inventory-items?serial_number=a%00b", nobody), 422, "validation_error")


def test_a_malformed_item_body_is_malformed_json(api, master):
    assert_problem(api.post("/api/v1/inventory-items", b'{"serial_number": ', master), 400, "malformed_json")


def test_items_are_read_by_anyone_and_filtered_by_serial_number(api, nobody):
    wanted = InventoryItemFactory(serial_number="SN-WANTED")
    other = InventoryItemFactory()

    everything = api.get("/api/v1/inventory-items", nobody).json()
    filtered = api.get("/api/v1/inventory-items?serial_number=SN-WANTED", nobody).json()
    missing = api.get("/api/v1/inventory-items?serial_number=SN-NOPE", nobody).json()
    one = api.get(f"/api/v1/inventory-items/{other.pk}", nobody)

    assert {item["id"] for item in everything["items"]} == {wanted.pk, other.pk}
    assert [item["id"] for item in filtered["items"]] == [wanted.pk]
    assert missing == {"items": [], "next_cursor": None}
    assert one.status_code == 200
    assert one.json()["serial_number"] == other.serial_number


def test_an_item_shows_in_service_while_its_ticket_is_in_progress(api, nobody, shop):
    shop.started()

    assert api.get(f"/api/v1/inventory-items/{shop.item.pk}", nobody).json()["status"] == "in_service"


@pytest.mark.parametrize("suffix", ["", "/parts"])
@pytest.mark.parametrize("item_id", [999_999, 2**70], ids=["unknown", "huge"])
def test_an_unknown_item_is_not_found(api, nobody, item, item_id, suffix):
    assert_problem(api.get(f"/api/v1/inventory-items/{item_id}{suffix}", nobody), 404, "not_found")


def test_adding_a_part_to_an_unknown_item_is_not_found(api, master):
    assert_problem(api.post("/api/v1/inventory-items/999999/parts", {"name": "bell"}, master), 404, "not_found")


# --- parts -----------------------------------------------------------------------------------------------------


def test_a_part_is_added_to_an_item_and_listed_with_it(api, master, nobody, item):
    other = InventoryItemFactory()
    InventoryItemPartFactory(inventory_item=other, name="saddle")

    response = api.post(f"/api/v1/inventory-items/{item.pk}/parts", {"name": "brakes"}, master)

    assert response.status_code == 201, response.content
    part = response.json()
    assert part == {"id": part["id"], "inventory_item_id": item.pk, "name": "brakes"}
    listed = api.get(f"/api/v1/inventory-items/{item.pk}/parts", nobody).json()
    assert listed == {"items": [part], "next_cursor": None}


def test_a_duplicate_part_name_within_an_item_is_a_conflict(api, admin, item):
    api.post(f"/api/v1/inventory-items/{item.pk}/parts", {"name": "chain"}, admin)

    response = api.post(f"/api/v1/inventory-items/{item.pk}/parts", {"name": "chain"}, admin)

    assert_problem(response, 409, "conflict")
    assert InventoryItemPart.objects.filter(inventory_item=item, name="chain").count() == 1


def test_the_same_part_name_on_another_item_is_fine(api, admin, item):
    other = InventoryItemFactory()
    api.post(f"/api/v1/inventory-items/{item.pk}/parts", {"name": "chain"}, admin)

    response = api.post(f"/api/v1/inventory-items/{other.pk}/parts", {"name": "chain"}, admin)

    assert response.status_code == 201
    assert response.json()["inventory_item_id"] == other.pk


@pytest.mark.parametrize(
    ("body", "loc"),
    [({}, ["body", "name"]), ({"name": ""}, ["body", "name"]), ({"name": "x", "id": 3}, ["body", "id"])],
    ids=["missing", "empty", "extra"],
)
def test_an_invalid_part_is_a_validation_error(api, admin, item, body, loc):
    assert_validation_problem(api.post(f"/api/v1/inventory-items/{item.pk}/parts", body, admin), loc)
