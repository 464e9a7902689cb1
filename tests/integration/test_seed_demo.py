import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import ApiToken, Role, User
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.ticket.models import Ticket, TicketPartSpec, TicketTransition, WorkSession, WorkSessionTransition
from apps.xp.models import XpEntry
from tests.support.clock import frozen, nov26
from tests.support.lives import LIFE_TICKET_ACTIONS
from tests.support.records import ticket_actions

SEEDED_MODELS = (
    User,
    InventoryItem,
    InventoryItemPart,
    Ticket,
    TicketPartSpec,
    TicketTransition,
    WorkSession,
    WorkSessionTransition,
    XpEntry,
)
DEMO_USERNAMES = {"demo-admin", "demo-master", "demo-tech-1", "demo-tech-2", "demo-tech-3", "demo-qc", "demo-upstream"}


@pytest.fixture(autouse=True)
def _demo_mode(settings):
    settings.DEBUG = True


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in SEEDED_MODELS}


def test_seeding_twice_changes_no_data_and_only_issues_new_tokens(db):
    seed()
    first = counts()
    tokens_before = ApiToken.objects.count()

    seed()

    assert counts() == first
    assert ApiToken.objects.count() == tokens_before + len(DEMO_USERNAMES)
    assert first["InventoryItem"] >= 6 and first["Ticket"] >= 6


def test_demo_users_cover_every_role_and_a_service_user(db):
    seed()

    users = {user.username: user for user in User.objects.filter(username__startswith="demo-")}
    assert set(users) == DEMO_USERNAMES
    assert {role for user in users.values() for role in user.roles} == set(Role.values)
    assert users["demo-upstream"].is_service
    assert users["demo-admin"].is_staff and users["demo-admin"].has_usable_password()


def test_demo_tickets_are_in_every_state_with_a_running_session_in_progress(db):
    seed()

    statuses = set(Ticket.objects.values_list("status", flat=True))
    assert statuses >= {"under_review", "new", "assigned", "in_progress", "waiting_qc", "done"}
    in_progress = Ticket.objects.get(status="in_progress")
    assert WorkSession.domain.open_for_ticket(in_progress.pk).get().status == "running"
    done = Ticket.objects.get(status="done", inventory_item__serial_number="DEMO-SCOOTER-003")  # not past days
    assert ticket_actions(done.pk) == [*LIFE_TICKET_ACTIONS, "qc_pass"]
    assert XpEntry.objects.filter(ticket=done, user=done.technician).exists()


def test_the_printed_tokens_authenticate_and_the_curl_example_uses_the_admin_token(db):
    output = seed()

    printed = dict(re.findall(r"^\s+(demo-[\w-]+)\s.*?(tf_\S+)$", output, flags=re.MULTILINE))
    assert set(printed) == DEMO_USERNAMES
    assert all(ApiToken.authenticate(token).username == username for username, token in printed.items())
    assert f'curl -H "Authorization: Bearer {printed["demo-admin"]}" http://127.0.0.1:8000/api/v1/tickets' in output


def test_refuses_to_seed_outside_debug_mode_unless_told_to(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=0"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.filter(username="demo-admin").exists()

    call_command("seed_demo", "--allow-non-debug", stdout=StringIO(), stderr=StringIO())
    assert User.objects.filter(username="demo-admin").exists()


@pytest.mark.parametrize("minute", [5, 20, 39])
def test_seeding_just_after_midnight_still_tells_the_done_ticket(db, minute):
    """The story's first hours fall on yesterday: the past days must not have spent yesterday's pause budget."""
    with frozen(nov26(0, minute)):
        seed()

    done = Ticket.objects.get(status="done", inventory_item__serial_number="DEMO-SCOOTER-003")
    assert ticket_actions(done.pk) == [*LIFE_TICKET_ACTIONS, "qc_pass"]
