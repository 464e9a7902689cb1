from datetime import timedelta

import pytest

from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from tests.factories import (
    T0,
    AdminFactory,
    InspectorFactory,
    InventoryItemFactory,
    InventoryItemPartFactory,
    MasterFactory,
    TechnicianFactory,
    spec,
)


@pytest.fixture
def admin(db):
    return AdminFactory()


@pytest.fixture
def master(db):
    return MasterFactory()


@pytest.fixture
def technician(db):
    return TechnicianFactory()


@pytest.fixture
def inspector(db):
    return InspectorFactory()


@pytest.fixture
def item(db):
    return InventoryItemFactory()


@pytest.fixture
def parts(item):
    return [InventoryItemPartFactory(inventory_item=item, name=name) for name in ("brakes", "chain")]


class Shop:
    """Drives tickets through the services, one step a minute, so tests read as a story."""

    def __init__(self, *, admin, master, technician, inspector, item, parts):
        self.admin, self.master, self.technician, self.inspector = admin, master, technician, inspector
        self.item, self.parts = item, parts
        self.now = T0

    def tick(self, seconds: float = 60):
        self.now += timedelta(seconds=seconds)
        return self.now

    def create(self, minutes=(25, 20), item=None, parts=None):
        parts = parts or self.parts
        specs = [spec(part, m) for part, m in zip(parts, minutes, strict=False)]
        return workflow.create_ticket(
            inventory_item_id=(item or self.item).pk,
            title="fix it",
            part_specs=specs,
            master=self.master,
            at=self.tick(),
        ).ticket

    def approved(self, **kwargs):
        ticket = self.create(**kwargs)
        return workflow.approve_ticket_review(ticket_id=ticket.pk, actor=self.admin, at=self.tick()).ticket

    def assigned(self, technician=None, **kwargs):
        ticket = self.approved(**kwargs)
        technician = technician or self.technician
        return workflow.assign_ticket(
            ticket_id=ticket.pk, technician_id=technician.pk, actor=self.master, at=self.tick()
        ).ticket

    def started(self, technician=None, **kwargs):
        technician = technician or self.technician
        ticket = self.assigned(technician=technician, **kwargs)
        return workflow.start_ticket(ticket_id=ticket.pk, actor=technician, at=self.tick())

    def waiting_qc(self, **kwargs):
        outcome = self.started(**kwargs)
        ticket = outcome.ticket
        sessions.stop_work_session(ticket_id=ticket.pk, actor=self.technician, at=self.tick())
        return workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=self.technician, at=self.tick()).ticket


@pytest.fixture
def shop(admin, master, technician, inspector, item, parts):
    return Shop(admin=admin, master=master, technician=technician, inspector=inspector, item=item, parts=parts)


@pytest.fixture
def other_technician(db):
    return TechnicianFactory()


@pytest.fixture
def other_item(db):
    return InventoryItemFactory()


@pytest.fixture
def other_item_part(other_item):
    return InventoryItemPartFactory(inventory_item=other_item, name="saddle")
