"""Payload schemas of the command types (API.md). Shape only; state rules live in the domain."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from apps.common.text import storable_text
from apps.xp.models import MAX_ADJUSTMENT, MAX_REASON_LENGTH

MAX_ID = 2**63 - 1


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[str, AfterValidator(storable_text)]
Note = Annotated[Text, Field(max_length=2000)]
Color = Literal["green", "yellow", "red"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PartSpecIn(Payload):
    model_config = ConfigDict(title="NewPartSpec")
    inventory_item_part_id: Id
    color: Color
    minutes: Annotated[int, Field(ge=0, le=10080)]
    comment: Annotated[Text, Field(max_length=2000)] = ""


PartSpecList = Annotated[list[PartSpecIn], Field(max_length=200)]


def _unique_parts(specs: list[PartSpecIn]) -> list[PartSpecIn]:
    ids = [spec.inventory_item_part_id for spec in specs]
    if len(ids) != len(set(ids)):
        raise ValueError("inventory_item_part_id must be unique within part_specs")
    return specs


class TicketCreate(Payload):
    inventory_item_id: Id
    title: Annotated[Text, Field(max_length=255)] = ""
    part_specs: PartSpecList

    _unique = field_validator("part_specs")(_unique_parts)


class TicketRef(Payload):
    ticket_id: Id


class TicketAssign(TicketRef):
    technician_id: Id


class TicketWithNote(TicketRef):
    note: Note = ""


class TicketSetPartSpecs(TicketRef):
    part_specs: PartSpecList

    _unique = field_validator("part_specs")(_unique_parts)


class TicketSetManualMetrics(TicketRef):
    flag_color: Color
    xp_amount: Annotated[int, Field(ge=0, le=1_000_000)]


def _not_zero(amount: int) -> int:
    if amount == 0:
        raise ValueError("must not be 0: an adjustment changes the total")
    return amount


class XpAdjust(Payload):
    technician_id: Id
    amount: Annotated[int, Field(ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT, description="not 0"), AfterValidator(_not_zero)]
    reason: Annotated[Text, Field(min_length=1, max_length=MAX_REASON_LENGTH)]


class WorkSessionAutoResume(TicketRef):
    """System command: apply a due auto-resume of one paused session (never submitted over HTTP)."""

    session_id: Id
