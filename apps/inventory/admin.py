from django.contrib import admin

from apps.inventory.models import InventoryItem, InventoryItemPart


class PartInline(admin.TabularInline):
    model = InventoryItemPart
    extra = 0


@admin.register(InventoryItem)
class InventoryItemAdmin(admin.ModelAdmin):
    list_display = ("serial_number", "name", "category", "status", "created_at")
    list_filter = ("status", "category")
    search_fields = ("serial_number", "name")
    readonly_fields = ("status",)
    inlines = [PartInline]
