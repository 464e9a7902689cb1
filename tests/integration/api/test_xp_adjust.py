"""`xp.adjust` (API.md, Command types): an admin adds or takes away XP with a reason, as a ledger entry of kind
`manual_adjustment` without a ticket, ordered per technician; PostgreSQL refuses an entry that breaks the kind's
rules (reason iff manual, amount within bounds) whoever writes it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from apps.commands.models import Command
from apps.commands.processing import drain_lane
from apps.common.db import constraint_name
from apps.events.models import Event
from apps.xp.models import XpEntry, XpKind
from apps.xp.services import award_xp
from tests.support.assertions import assert_problem, assert_validation_problem
from tests.support.builders import pending_command
from tests.support.clock import T0
from tests.support.factories import TechnicianFactory


def adjust(technician_id: int, amount: int = 5, reason: str = "helped on the night shift") -> dict:
    return {"type": "xp.adjust", "technician_id": technician_id, "amount": amount, "reason": reason}


def lane(technician) -> str:
    return f"technician:{technician.pk}"


def ledger(api, reader, technician) -> dict:
    response = api.get(f"/api/v1/technicians/{technician.pk}/xp", reader)
    assert response.status_code == 200, response.content
    return response.json()


# --- submission -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"amount": 0}, ["body", "amount"]),
        ({"amount": 1001}, ["body", "amount"]),
        ({"amount": -1001}, ["body", "amount"]),
        ({"amount": 2.5}, ["body", "amount"]),
        ({"amount": "5"}, ["body", "amount"]),
        ({"amount": True}, ["body", "amount"]),
        ({"reason": ""}, ["body", "reason"]),
        ({"reason": "x" * 501}, ["body", "reason"]),
        ({"reason": None}, ["body", "reason"]),
        ({"technician_id": 0}, ["body", "technician_id"]),
        ({"ticket_id": 1}, ["body", "ticket_id"]),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_body_outside_the_contract_is_a_422_naming_the_field(api, admin, technician, change, loc):
    response = api.command(admin, {**adjust(technician.pk), **change})

    assert_validation_problem(response, loc)
    assert not Command.objects.exists()


@pytest.mark.parametrize("missing", ["technician_id", "amount", "reason"])
def test_each_field_is_required(api, admin, technician, missing):
    body = {key: value for key, value in adjust(technician.pk).items() if key != missing}

    assert_validation_problem(api.command(admin, body), ["body", missing])


@pytest.mark.parametrize("amount", [-1000, -1, 1, 1000])
def test_the_bounds_are_accepted_and_the_command_is_laned_by_technician(api, admin, technician, amount):
    response = api.command(admin, adjust(technician.pk, amount=amount, reason="x" * 500))

    assert response.status_code == 202, response.content
    command = Command.objects.get()
    assert (command.type, command.ticket_id, command.lane) == ("xp.adjust", None, lane(technician))


@pytest.mark.parametrize("role", ["master", "technician", "inspector", "nobody"])
def test_only_an_admin_may_adjust_xp(api, request, technician, role):
    user = request.getfixturevalue(role)

    assert_problem(api.command(user, adjust(technician.pk)), 403, "forbidden")
    assert not Command.objects.exists()


# --- application ------------------------------------------------------------------------------------------------


def test_an_applied_adjustment_is_a_manual_entry_with_its_reason_and_an_xp_awarded_event(api, admin, technician):
    accepted = api.command(admin, adjust(technician.pk, amount=-7, reason="double-counted ticket"))
    assert accepted.status_code == 202, accepted.content

    assert drain_lane(lane(technician)) == 1

    command = Command.objects.get()
    assert (command.status, command.result, command.error_code) == ("succeeded", None, "")
    entry = XpEntry.objects.get(user=technician)
    assert (entry.kind, entry.amount, entry.reason, entry.ticket_id) == (
        XpKind.MANUAL_ADJUSTMENT,
        -7,
        "double-counted ticket",
        None,
    )
    assert entry.created_at == command.effective_at
    assert entry.reference == f"manual_adjustment:{command.id}"
    event = Event.objects.get(type="xp.awarded")
    assert (event.technician_id, event.ticket_id, event.actor_id, event.command_id) == (
        technician.pk,
        None,
        admin.pk,
        command.id,
    )
    assert event.occurred_at == command.effective_at
    assert event.data["entry"]["kind"] == "manual_adjustment"
    assert (event.data["entry"]["amount"], event.data["entry"]["reason"]) == (-7, "double-counted ticket")


def test_the_ledger_shows_the_reason_on_manual_entries_only_and_the_total_counts_them(api, admin, nobody, shop):
    technician = shop.technician
    award_xp(user=technician, kind=XpKind.TICKET_BASE_XP, amount=4, reference="base", ticket=None, at=T0)
    api.command(admin, adjust(technician.pk, amount=10, reason="mentoring"))
    api.command(admin, adjust(technician.pk, amount=-3, reason="late report"))
    drain_lane(lane(technician))

    body = ledger(api, nobody, technician)

    assert body["total"] == 4 + 10 - 3
    by_kind = {}
    for entry in body["entries"]:
        by_kind.setdefault(entry["kind"], []).append(entry)
    assert "reason" not in by_kind["ticket_base_xp"][0]
    assert sorted((e["amount"], e["reason"]) for e in by_kind["manual_adjustment"]) == [
        (-3, "late report"),
        (10, "mentoring"),
    ]
    assert all(e["ticket_id"] is None for e in by_kind["manual_adjustment"])


def test_adjustments_of_one_technician_apply_in_acceptance_order_and_apart_from_anothers(
    admin, technician, other_technician
):
    # Pressed out of time order (an upstream system's backdated press accepted later), all in one lane.
    presses = [T0 + timedelta(minutes=minute) for minute in (5, 1, 3)]
    commands = [
        pending_command(
            admin,
            "xp.adjust",
            at=at,
            lane=lane(technician),
            technician_id=technician.pk,
            amount=index + 1,
            reason=f"press {index}",
        )
        for index, at in enumerate(presses)
    ]
    other = pending_command(
        admin,
        "xp.adjust",
        at=T0,
        lane=lane(other_technician),
        technician_id=other_technician.pk,
        amount=50,
        reason="elsewhere",
    )

    assert drain_lane(lane(technician)) == 3

    entries = list(XpEntry.objects.filter(user=technician).order_by("id"))
    assert [entry.reason for entry in entries] == ["press 0", "press 1", "press 2"]  # the lane's order
    assert [entry.created_at for entry in entries] == presses  # each as of its own press
    assert [c.status for c in Command.objects.filter(pk__in=[c.pk for c in commands]).order_by("seq")] == [
        "succeeded"
    ] * 3
    assert Command.objects.get(pk=other.pk).status == "pending"  # another technician's lane is its own
    assert not XpEntry.objects.filter(user=other_technician).exists()


@pytest.mark.parametrize("who", ["unknown", "master", "inactive technician"])
def test_an_adjustment_of_someone_who_is_not_an_active_technician_is_rejected_not_found(api, admin, master, who):
    target_id = {
        "unknown": 987654,
        "master": master.pk,
        "inactive technician": TechnicianFactory(is_active=False).pk,
    }[who]
    api.command(admin, adjust(target_id))

    drain_lane(f"technician:{target_id}")

    command = Command.objects.get()
    assert (command.status, command.error_code) == ("rejected", "not_found")
    assert not XpEntry.objects.exists()
    assert Event.objects.filter(type="command.rejected", command_id=command.id).exists()


# --- the ledger's own guards, in PostgreSQL ------------------------------------------------------------------------


def insert_entry(user, *, kind: str, amount: int, reason: str | None, reference: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO xp_entry (user_id, kind, amount, reference, created_at, reason) "
            "VALUES (%s, %s, %s, %s, now(), %s)",
            [user.pk, kind, amount, reference, reason],
        )


@pytest.mark.parametrize(
    ("kind", "amount", "reason", "constraint"),
    [
        ("manual_adjustment", 5, None, "xp_entry_reason_iff_manual"),
        ("manual_adjustment", 5, "", "xp_entry_reason_iff_manual"),
        ("ticket_base_xp", 5, "a reason on an earned award", "xp_entry_reason_iff_manual"),
        ("manual_adjustment", 0, "nothing", "xp_entry_amount_fits_kind"),
        ("manual_adjustment", 1001, "too much", "xp_entry_amount_fits_kind"),
        ("manual_adjustment", -1001, "too much", "xp_entry_amount_fits_kind"),
        ("ticket_base_xp", -1, None, "xp_entry_amount_fits_kind"),
        ("qc_status_update", -5, None, "xp_entry_amount_fits_kind"),
    ],
)
def test_postgresql_refuses_an_entry_that_breaks_its_kinds_rules(technician, kind, amount, reason, constraint):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        insert_entry(technician, kind=kind, amount=amount, reason=reason, reference="forged")

    assert constraint_name(caught.value) == constraint


def test_postgresql_keeps_entries_that_follow_their_kinds_rules(technician):
    insert_entry(technician, kind="manual_adjustment", amount=-1000, reason="r", reference="manual")
    insert_entry(technician, kind="ticket_base_xp", amount=3, reason=None, reference="earned")

    assert sorted(XpEntry.objects.values_list("reference", "amount")) == [("earned", 3), ("manual", -1000)]
