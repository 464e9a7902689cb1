"""The registry is the one description of a command type: each entry names its lane and whether it settles a due
automatic resume first, and nothing outside the entry has to be edited to add a type."""

import pytest

from apps.commands.registry import REGISTRY, CommandType

ALL_TYPES = list(REGISTRY.values())


def _sample(command_type: CommandType):
    # Unvalidated on purpose: only the ids a lane is made of matter here.
    return command_type.schema.model_construct(ticket_id=7, inventory_item_id=9, session_id=3, technician_id=5)


@pytest.mark.parametrize("command_type", ALL_TYPES, ids=lambda command_type: command_type.name)
def test_every_type_orders_by_the_ticket_it_names_or_else_by_its_item_or_technician(command_type):
    fields = command_type.schema.model_fields

    lane = command_type.lane(_sample(command_type))

    if "ticket_id" in fields:
        assert lane == "ticket:7"
    elif "inventory_item_id" in fields:
        assert lane == "item:9"
    else:
        assert ("technician_id" in fields, lane) == (True, "technician:5")


@pytest.mark.parametrize("command_type", ALL_TYPES, ids=lambda command_type: command_type.name)
def test_every_type_says_whether_it_settles_a_due_auto_resume_first(command_type):
    assert type(command_type.settles_session) is bool
    assert callable(command_type.handler)
    assert command_type.roles or not command_type.public, "a public type needs roles that may submit it"


def test_every_technician_command_on_a_session_meets_it_after_a_due_auto_resume():
    session_commands = {name for name in REGISTRY if name.startswith("work_session.") and REGISTRY[name].public}

    assert session_commands == {"work_session.start", "work_session.pause", "work_session.resume", "work_session.stop"}
    assert all(REGISTRY[name].settles_session for name in session_commands)
    # Starting a ticket opens a session and sending it to QC needs the last one stopped: both meet sessions too.
    assert REGISTRY["ticket.start"].settles_session
    assert REGISTRY["ticket.to_waiting_qc"].settles_session


def test_the_automatic_resume_is_a_system_command_that_does_not_settle_itself():
    auto_resume = REGISTRY["work_session.auto_resume"]

    assert not auto_resume.public
    assert not auto_resume.roles
    assert not auto_resume.settles_session


def test_commands_that_never_touch_a_session_do_not_pay_for_settling_one():
    no_session = [
        "ticket.create",
        "ticket.approve_review",
        "ticket.assign",
        "ticket.qc_pass",
        "ticket.qc_fail",
        "xp.adjust",
    ]

    assert not any(REGISTRY[name].settles_session for name in no_session)
