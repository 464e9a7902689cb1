"""Inventory endpoints: synchronous writes for admins and masters, reads for everyone authenticated."""

from datetime import datetime
from typing import Annotated

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict

from apps.accounts.models import Role
from apps.common.api import ListQuery, paginate, require_role
from apps.common.problems import Problem
from apps.common.text import storable_text
from apps.common.time import isoformat_utc
from apps.inventory.models import InventoryItem, InventoryItemPart, InventoryItemStatus
from apps.ticket.models import Ticket

router = Router(tags=["inventory"])


def _stripped(value: str) -> str:
    return storable_text(value).strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_stripped), AfterValidator(_not_blank)]
Category = Annotated[str, Field(max_length=128), AfterValidator(_stripped)]


class ItemIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="NewInventoryItem")
    serial_number: Annotated[
        str, Field(min_length=1, max_length=128), AfterValidator(_stripped), AfterValidator(_not_blank)
    ]
    name: Name
    category: Category = ""


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


# A field that may be left out but, when sent, is a string (null is a 422): the default stands for "left out".
LeftOut = Field(None, json_schema_extra=_no_default)


class ItemChange(Schema):
    """The fields that may change; the serial number names the item for good (sending it is a 422)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="InventoryItemChange")
    name: Name = LeftOut
    category: Category = LeftOut


class ItemOut(Schema):
    model_config = ConfigDict(title="InventoryItem")
    id: int
    serial_number: str
    name: str
    category: str
    status: str
    created_at: datetime


class ItemPage(Schema):
    model_config = ConfigDict(title="InventoryItemPage")
    items: list[ItemOut]
    next_cursor: str | None


class PartIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True, title="NewInventoryItemPart")
    name: Name


class PartOut(Schema):
    model_config = ConfigDict(title="InventoryItemPart")
    id: int
    inventory_item_id: int
    name: str


class PartPage(Schema):
    model_config = ConfigDict(title="InventoryItemPartPage")
    items: list[PartOut]
    next_cursor: str | None


class ItemFilters(ListQuery):
    serial_number: str | None = Field(None, max_length=128)
    q: Annotated[str, Field(max_length=128), AfterValidator(storable_text)] | None = Field(
        None, description="a substring of the serial number or the name, in any case"
    )
    status: InventoryItemStatus | None = None
    has_active_ticket: bool | None = Field(None, description="whether an open (not done) ticket exists for the item")


def item_data(item: InventoryItem) -> dict:
    return {
        "id": item.pk,
        "serial_number": item.serial_number,
        "name": item.name,
        "category": item.category,
        "status": item.status,
        "created_at": isoformat_utc(item.created_at),
    }


def part_data(part: InventoryItemPart) -> dict:
    return {"id": part.pk, "inventory_item_id": part.inventory_item_id, "name": part.name}


@router.post("", response={201: ItemOut}, operation_id="createInventoryItem", summary="Register an inventory item")
def create_item(request, body: ItemIn):
    require_role(request.user, Role.ADMIN, Role.MASTER)
    try:
        with transaction.atomic():
            item = InventoryItem.objects.create(
                serial_number=body.serial_number, name=body.name, category=body.category
            )
    except IntegrityError:
        raise Problem(409, "conflict", f"serial number {body.serial_number!r} is already registered") from None
    return Status(201, item_data(item))


@router.get("", response=ItemPage, operation_id="listInventoryItems", summary="List inventory items")
def list_items(request, filters: Query[ItemFilters]):
    return paginate(matching_items(filters), query=filters, render=item_data)


def matching_items(filters: ItemFilters) -> QuerySet[InventoryItem]:
    """`q` is served by the trigram indexes (apps/inventory/models.py); `has_active_ticket` by the unique index of
    active tickets per item."""
    items = InventoryItem.objects.all()
    if filters.serial_number is not None:
        items = items.filter(serial_number=filters.serial_number)
    if filters.q:
        items = items.filter(Q(serial_number__icontains=filters.q) | Q(name__icontains=filters.q))
    if filters.status is not None:
        items = items.filter(status=filters.status)
    if filters.has_active_ticket is not None:
        active = Exists(Ticket.domain.active_for_item(OuterRef("pk")))
        items = items.filter(active if filters.has_active_ticket else ~active)
    return items


@router.get("/{int:item_id}", response=ItemOut, operation_id="getInventoryItem", summary="One inventory item")
def get_item(request, item_id: int):
    return item_data(_item_or_404(item_id))


@router.patch(
    "/{int:item_id}",
    response=ItemOut,
    operation_id="updateInventoryItem",
    summary="Rename or recategorise an item",
    description="`name` and `category` may change; the serial number may not (sending it is a `422`).",
)
def update_item(request, item_id: int, body: ItemChange):
    require_role(request.user, Role.ADMIN, Role.MASTER)
    changes = body.model_dump(exclude_unset=True)
    with transaction.atomic():
        item = _item_or_404(item_id, for_update=True)
        for field, value in changes.items():
            setattr(item, field, value)
        item.save(update_fields=list(changes))
    return item_data(item)


@router.post(
    "/{int:item_id}/parts",
    response={201: PartOut},
    operation_id="createInventoryItemPart",
    summary="Add a part to an item",
)
def create_part(request, item_id: int, body: PartIn):
    require_role(request.user, Role.ADMIN, Role.MASTER)
    item = _item_or_404(item_id)
    try:
        with transaction.atomic():
            part = InventoryItemPart.objects.create(inventory_item=item, name=body.name)
    except IntegrityError:
        raise Problem(409, "conflict", f"item {item_id} already has a part named {body.name!r}") from None
    return Status(201, part_data(part))


@router.get("/{int:item_id}/parts", response=PartPage, operation_id="listInventoryItemParts", summary="An item's parts")
def list_parts(request, item_id: int, query: Query[ListQuery]):
    _item_or_404(item_id)
    return paginate(InventoryItemPart.objects.filter(inventory_item_id=item_id), query=query, render=part_data)


def _item_or_404(item_id: int, *, for_update: bool = False) -> InventoryItem:
    items = InventoryItem.objects.select_for_update() if for_update else InventoryItem.objects
    item = items.filter(pk=item_id).first()
    if item is None:
        raise Problem(404, "not_found", f"inventory item {item_id} does not exist")
    return item
