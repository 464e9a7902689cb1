"""Plain inputs the services accept (the API's schemas translate into these)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PartSpecInput:
    inventory_item_part_id: int
    color: str
    minutes: int
    comment: str = ""
