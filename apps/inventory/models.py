from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper


class InventoryItemStatus(models.TextChoices):
    READY = "ready"
    IN_SERVICE = "in_service", "In service"


class InventoryItem(models.Model):
    serial_number = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=InventoryItemStatus.choices, default=InventoryItemStatus.READY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "inventory_item"
        # The list's `q` is a case-insensitive substring (Django writes `UPPER(col::text) LIKE UPPER('%q%')`): a
        # B-tree cannot serve a leading wildcard, a trigram index on the same expression can, so a search stays an
        # index scan however many items the shop has seen.
        indexes = [
            GinIndex(OpClass(Upper("serial_number"), name="gin_trgm_ops"), name="inventory_item_serial_trgm"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="inventory_item_name_trgm"),
        ]
        constraints = [
            models.CheckConstraint(
                name="inventory_item_status_known",
                condition=models.Q(status__in=InventoryItemStatus.values),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial_number} {self.name}"


class InventoryItemPart(models.Model):
    inventory_item = models.ForeignKey(InventoryItem, on_delete=models.PROTECT, related_name="parts")
    name = models.CharField(max_length=255)

    class Meta:
        db_table = "inventory_item_part"
        constraints = [
            models.UniqueConstraint(fields=["inventory_item", "name"], name="inventory_part_name_unique_per_item"),
            # Target of the composite foreign key from ticket part specs (a spec's part belongs to its item).
            models.UniqueConstraint(fields=["id", "inventory_item"], name="inventory_part_id_item_unique"),
        ]

    def __str__(self) -> str:
        return self.name
