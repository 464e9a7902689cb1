from django.db import models


class InventoryItemStatus(models.TextChoices):
    READY = "ready"
    IN_SERVICE = "in_service"


class InventoryItem(models.Model):
    serial_number = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=InventoryItemStatus.choices, default=InventoryItemStatus.READY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "inventory_item"
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
