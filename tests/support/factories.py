"""factory_boy factories: the one place tests build rows (builders.py drives them through the services)."""

import factory

from apps.accounts.models import ApiToken, Role, User
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.ticket.inputs import PartSpecInput


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    roles = factory.LazyFunction(list)


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    roles = factory.LazyFunction(lambda: [Role.ADMIN])
    is_staff = True


class MasterFactory(UserFactory):
    username = factory.Sequence(lambda n: f"master{n}")
    roles = factory.LazyFunction(lambda: [Role.MASTER])


class TechnicianFactory(UserFactory):
    username = factory.Sequence(lambda n: f"tech{n}")
    roles = factory.LazyFunction(lambda: [Role.TECHNICIAN])


class InspectorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"qc{n}")
    roles = factory.LazyFunction(lambda: [Role.QC_INSPECTOR])


class InventoryItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InventoryItem

    serial_number = factory.Sequence(lambda n: f"SN-{n:06d}")
    name = factory.Sequence(lambda n: f"Bike {n}")
    category = "bike"


class InventoryItemPartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InventoryItemPart

    inventory_item = factory.SubFactory(InventoryItemFactory)
    name = factory.Sequence(lambda n: f"part {n}")


def issue_token(user: User) -> str:
    return ApiToken.issue(user)[1]


def spec(part, minutes: int, color: str = "green", comment: str = "") -> PartSpecInput:
    return PartSpecInput(inventory_item_part_id=part.pk, color=color, minutes=minutes, comment=comment)
