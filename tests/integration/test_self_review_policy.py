"""The rules' policy: unless it allows it, nobody passes or fails QC on a ticket they work on, and no master
approves the review of a ticket they opened, whatever roles they hold (API.md, "Inventory and rules")."""

import pytest

from apps.accounts.models import Role
from apps.commands.models import Command
from apps.commands.processing import apply_next
from apps.common.errors import ErrorCode
from apps.ticket import services_workflow as workflow
from apps.ticket.models import Ticket, TicketTransition
from apps.xp.models import XpEntry
from tests.support.assertions import refused
from tests.support.builders import Shop, pending_command
from tests.support.contract import DEFAULT_RULES
from tests.support.factories import TechnicianFactory, UserFactory
from tests.support.rules import change_rules_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech_inspector():
    """A technician who also holds the QC inspector role."""
    return TechnicianFactory(roles=[Role.TECHNICIAN, Role.QC_INSPECTOR])


@pytest.fixture
def admin_master():
    """A master who is also an admin."""
    return UserFactory(roles=[Role.ADMIN, Role.MASTER])


def allow(shop: Shop, **policy: bool) -> None:
    change_rules_at(shop.tick(), {"policy": policy})


# --- QC by the ticket's own technician ------------------------------------------------------------------------------


@pytest.mark.parametrize("decide", [workflow.pass_ticket_qc, workflow.fail_ticket_qc], ids=["qc_pass", "qc_fail"])
def test_the_tickets_own_technician_may_not_decide_its_qc(shop, tech_inspector, decide):
    ticket = shop.waiting_qc(technician=tech_inspector)

    with refused(ErrorCode.FORBIDDEN):
        decide(ticket_id=ticket.pk, actor=tech_inspector, at=shop.tick())

    assert Ticket.objects.get(pk=ticket.pk).status == "waiting_qc"
    assert not XpEntry.objects.exists()
    assert not TicketTransition.objects.filter(ticket=ticket, action__startswith="qc_").exists()


def test_another_inspector_still_passes_the_ticket(shop, tech_inspector):
    ticket = shop.waiting_qc(technician=tech_inspector)

    outcome = workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=shop.inspector, at=shop.tick())

    assert outcome.ticket.status == "done"
    assert set(XpEntry.objects.values_list("user_id", flat=True)) == {tech_inspector.pk, shop.inspector.pk}


def test_a_technician_inspector_may_decide_qc_on_a_ticket_of_someone_else(shop, tech_inspector):
    ticket = shop.waiting_qc()  # shop.technician's

    outcome = workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=tech_inspector, at=shop.tick())

    assert outcome.ticket.status == "rework"


def test_self_qc_is_allowed_when_the_policy_allows_it(shop, tech_inspector):
    ticket = shop.waiting_qc(technician=tech_inspector)
    allow(shop, allow_self_qc=True)

    outcome = workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=tech_inspector, at=shop.tick())

    assert outcome.ticket.status == "done"


def test_a_self_qc_command_is_rejected_forbidden_and_awards_nothing(shop, tech_inspector):
    ticket = shop.waiting_qc(technician=tech_inspector)
    pending_command(tech_inspector, "ticket.qc_pass", at=shop.tick(), ticket_id=ticket.pk)

    command = apply_next(f"ticket:{ticket.pk}", now=shop.tick())

    assert (command.status, command.error_code) == ("rejected", "forbidden")
    assert not XpEntry.objects.exists()


# --- review approval by the ticket's own master ---------------------------------------------------------------------


def test_the_tickets_master_may_not_approve_its_review(admin_master, technician, inspector, item, parts):
    shop = Shop(admin=admin_master, master=admin_master, technician=technician, inspector=inspector, item=item)
    ticket = shop.create(parts=parts)

    with refused(ErrorCode.FORBIDDEN):
        workflow.approve_ticket_review(ticket_id=ticket.pk, actor=admin_master, at=shop.tick())

    reloaded = Ticket.objects.get(pk=ticket.pk)
    assert (reloaded.status, reloaded.approved_by_id, reloaded.approved_at) == ("under_review", None, None)


def test_another_admin_approves_the_ticket_of_an_admin_master(admin_master, admin, technician, item, parts):
    shop = Shop(admin=admin, master=admin_master, technician=technician, item=item, parts=parts)

    assert shop.approved().approved_by_id == admin.pk


def test_self_approval_is_allowed_when_the_policy_allows_it(admin_master, technician, item, parts):
    shop = Shop(admin=admin_master, master=admin_master, technician=technician, item=item, parts=parts)
    ticket = shop.create()
    allow(shop, allow_self_approval=True)

    outcome = workflow.approve_ticket_review(ticket_id=ticket.pk, actor=admin_master, at=shop.tick())

    assert (outcome.ticket.status, outcome.ticket.approved_by_id) == ("new", admin_master.pk)


def test_allowing_one_keeps_the_other_refused(admin_master, technician, item, parts):
    shop = Shop(admin=admin_master, master=admin_master, technician=technician, item=item, parts=parts)
    ticket = shop.create()
    allow(shop, allow_self_qc=True)

    with refused(ErrorCode.FORBIDDEN):
        workflow.approve_ticket_review(ticket_id=ticket.pk, actor=admin_master, at=shop.tick())


def test_a_self_approval_command_is_rejected_forbidden(admin_master, item, parts):
    shop = Shop(admin=admin_master, master=admin_master, item=item, parts=parts)
    ticket = shop.create()
    pending_command(admin_master, "ticket.approve_review", at=shop.tick(), ticket_id=ticket.pk)

    command = apply_next(f"ticket:{ticket.pk}", now=shop.tick())

    assert (command.status, command.error_code) == ("rejected", "forbidden")
    assert Command.objects.get(pk=command.pk).error_code == "forbidden"


# --- the contract: GET /rules shows the policy; PUT /rules changes it, and refuses host time zones -------------------


def test_the_rules_show_the_policy_and_an_admin_changes_it(api, admin, nobody, django_capture_on_commit_callbacks):
    assert api.get("/api/v1/rules", nobody).json()["config"]["policy"] == DEFAULT_RULES["policy"]

    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(
            "/api/v1/rules", {"config": {"policy": {"allow_self_qc": True}}, "reason": "tiny shop"}, admin
        )

    assert response.status_code == 200, response.content
    policy = {"allow_self_qc": True, "allow_self_approval": False}
    assert response.json()["config"]["policy"] == policy
    assert api.get("/api/v1/rules", nobody).json()["config"]["policy"] == policy


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_a_host_time_zone_alias_is_a_validation_error(api, admin, zone):
    response = api.put("/api/v1/rules", {"config": {"work_session": {"timezone": zone}}, "reason": "host"}, admin)

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert ["body", "config", "work_session", "timezone"] in [e["loc"] for e in body["errors"]]
