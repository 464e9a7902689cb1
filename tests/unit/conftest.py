"""Unit tests build unsaved model instances only; pytest-django refuses any database access here."""

import pytest

from apps.accounts.models import Role, User
from apps.rules.config import TicketXpConfig
from apps.ticket.models import Ticket, TicketStatus
from tests.support.clock import T0


@pytest.fixture
def admin():
    return User(pk=1, username="admin", roles=[Role.ADMIN])


@pytest.fixture
def technician():
    return User(pk=10, username="tech", roles=[Role.TECHNICIAN])


@pytest.fixture
def other_technician():
    return User(pk=11, username="other-tech", roles=[Role.TECHNICIAN])


@pytest.fixture
def xp_rules():
    return TicketXpConfig()


@pytest.fixture
def make_ticket(admin, technician):
    """An unsaved ticket in `status`; reviewed and assigned to `technician` unless told otherwise."""

    def make(status: str, *, approved: bool = True, assigned_to=technician, **fields) -> Ticket:
        defaults = {"approved_by": admin, "approved_at": T0} if approved else {}
        if assigned_to is not None:
            defaults.update(technician=assigned_to, assigned_at=T0)
        if status == TicketStatus.DONE:
            defaults["finished_at"] = T0
        return Ticket(status=status, created_at=T0, updated_at=T0, **{**defaults, **fields})

    return make
