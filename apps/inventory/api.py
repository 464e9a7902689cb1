"""Inventory endpoints: synchronous writes for admins and masters, reads for everyone authenticated."""

from datetime import datetime
from typing import Annotated

from django.db import IntegrityError, transaction
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict

from apps.accounts.models import Role
from apps.common.api import ListQuery, paginate, require_role
from apps.common.problems import Problem
from apps.common.text import storable_text
from apps.common.time import isoformat_utc
from apps.inventory.models import InventoryItem, InventoryItemPart

router = Router(tags=["inventory"])


def _stripped(value: str) -> str:
    return storable_text(value).strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_stripped), AfterValidator(_not_blank)]


class ItemIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)
    serial_number: Annotated[
        str, Field(min_length=1, max_length=128), AfterValidator(_stripped), AfterValidator(_not_blank)
    ]
    name: Name
    category: Annotated[str, Field(max_length=128), AfterValidator(_stripped)] = ""


class ItemOut(Schema):
    id: int
    serial_number: str
    name: str
    category: str
    status: str
    created_at: datetime


class ItemPage(Schema):
    items: list[ItemOut]
    next_cursor: str | None


class PartIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: Name


class PartOut(Schema):
    id: int
    inventory_item_id: int
    name: str


class PartPage(Schema):
    items: list[PartOut]
    next_cursor: str | None


class ItemFilters(ListQuery):
    serial_number: str | None = Field(None, max_length=128)


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


@router.post("", response={201: ItemOut}, summary="Register an inventory item")
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


@router.get("", response=ItemPage, summary="List inventory items")
def list_items(request, filters: Query[ItemFilters]):
    items = InventoryItem.objects.all()
    if filters.serial_number is not None:
        items = items.filter(serial_number=filters.serial_number)
    return paginate(items, query=filters, render=item_data)


@router.get("/{int:item_id}", response=ItemOut, summary="One inventory item")
def get_item(request, item_id: int):
    return item_data(_item_or_404(item_id))


@router.post("/{int:item_id}/parts", response={201: PartOut}, summary="Add a part to an item")
def create_part(request, item_id: int, body: PartIn):
    require_role(request.user, Role.ADMIN, Role.MASTER)
    item = _item_or_404(item_id)
    try:
        with transaction.atomic():
            part = InventoryItemPart.objects.create(inventory_item=item, name=body.name)
    except IntegrityError:
        raise Problem(409, "conflict", f"item {item_id} already has a part named {body.name!r}") from None
    return Status(201, part_data(part))


@router.get("/{int:item_id}/parts", response=PartPage, summary="An item's parts")
def list_parts(request, item_id: int, query: Query[ListQuery]):
    _item_or_404(item_id)
    return paginate(InventoryItemPart.objects.filter(inventory_item_id=item_id), query=query, render=part_data)


def _item_or_404(item_id: int) -> InventoryItem:
    item = InventoryItem.objects.filter(pk=item_id).first()
    if item is None:
        raise Problem(404, "not_found", f"inventory item {item_id} does not exist")
    return item
