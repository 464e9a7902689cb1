"""`manage.py seed_demo`: idempotent demo data, built through the ticket services like real traffic.

Items, parts and users are found or created by their natural keys. A demo item that already has a ticket is left
alone, so a second run changes no data; it only issues fresh API tokens (earlier ones stay valid).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.crypto import salted_hmac

from apps.accounts.models import ApiToken, Role, User
from apps.analytics.demo_history import DAYS as PAST_DAYS
from apps.analytics.demo_history import local_day_of, seed_past_days
from apps.common.errors import DomainError
from apps.common.time import utc_now
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.inputs import PartSpecInput
from apps.ticket.models import FlagColor, Ticket, TicketStatus

ADMIN_USERNAME = "demo-admin"
STEP = timedelta(minutes=5)
STORY_LENGTH = timedelta(hours=3)  # longer than all the demo steps together, so none is in the future


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    is_service: bool = False


DEMO_USERS = (
    DemoUser(ADMIN_USERNAME, (Role.ADMIN,), is_admin=True),
    DemoUser("demo-master", (Role.MASTER,)),
    DemoUser("demo-tech-1", (Role.TECHNICIAN,)),
    DemoUser("demo-tech-2", (Role.TECHNICIAN,)),
    DemoUser("demo-tech-3", (Role.TECHNICIAN,)),
    DemoUser("demo-qc", (Role.QC_INSPECTOR,)),
    DemoUser("demo-upstream", is_service=True),
)


@dataclass(frozen=True)
class DemoTicket:
    """A ticket to drive to `status`: `minutes` are planned per item part, in the item's part order."""

    status: str
    title: str
    minutes: tuple[int, ...]
    technician: str | None = None


@dataclass(frozen=True)
class DemoItem:
    serial_number: str
    name: str
    category: str
    parts: tuple[str, ...]
    ticket: DemoTicket | None = field(default=None)


DEMO_ITEMS = (
    DemoItem(
        "DEMO-BIKE-001",
        "Trek FX 2 city bike",
        "bike",
        ("brakes", "chain", "rear derailleur", "tyres"),
        DemoTicket(TicketStatus.UNDER_REVIEW, "Squeaky brakes, slipping chain", (20, 25, 15)),
    ),
    DemoItem(
        "DEMO-BIKE-002",
        "Gazelle Ultimate C8 e-bike",
        "e-bike",
        ("battery", "motor", "brakes", "lights"),
        DemoTicket(TicketStatus.NEW, "Battery drains overnight", (45, 0, 10)),
    ),
    DemoItem(
        "DEMO-SCOOTER-001",
        "Xiaomi Mi Pro 2 scooter",
        "scooter",
        ("deck", "front tyre", "brake cable"),
        DemoTicket(TicketStatus.ASSIGNED, "Flat front tyre", (25, 10), technician="demo-tech-2"),
    ),
    DemoItem(
        "DEMO-SCOOTER-002",
        "Segway Ninebot Max G30",
        "scooter",
        ("controller", "throttle", "rear wheel", "folding latch"),
        DemoTicket(TicketStatus.IN_PROGRESS, "Throttle cuts out", (40, 20, 0, 15), technician="demo-tech-1"),
    ),
    DemoItem(
        "DEMO-BIKE-003",
        "Brompton C Line folding bike",
        "bike",
        ("hinge", "chain", "saddle"),
        DemoTicket(TicketStatus.WAITING_QC, "Loose hinge", (15, 10), technician="demo-tech-2"),
    ),
    DemoItem(
        "DEMO-BIKE-004",
        "Cube Stereo 140 mountain bike",
        "bike",
        ("fork", "rear shock", "brakes", "dropper post"),
        DemoTicket(TicketStatus.REWORK, "Fork service", (60, 30, 10), technician="demo-tech-3"),
    ),
    DemoItem(
        "DEMO-SCOOTER-003",
        "Vespa Primavera 50",
        "scooter",
        ("spark plug", "air filter", "brake pads"),
        DemoTicket(TicketStatus.DONE, "Yearly service", (15, 10, 10), technician="demo-tech-3"),
    ),
    # No ticket: free for trying `ticket.create`.
    DemoItem("DEMO-BIKE-005", "Riese & Müller Load 75 cargo bike", "e-bike", ("battery", "chain", "brakes", "box")),
)


class Story:
    """Drives demo tickets through the services on one clock, a step every few minutes, so that every
    technician's sessions follow one another as they would in a real shop."""

    PATHS: dict[str, tuple[str, ...]] = {
        TicketStatus.UNDER_REVIEW: (),
        TicketStatus.NEW: ("approve",),
        TicketStatus.ASSIGNED: ("approve", "assign"),
        TicketStatus.IN_PROGRESS: ("approve", "assign", "start"),
        TicketStatus.WAITING_QC: ("approve", "assign", "start", "stop", "to_waiting_qc"),
        TicketStatus.REWORK: ("approve", "assign", "start", "stop", "to_waiting_qc", "qc_fail"),
        TicketStatus.DONE: ("approve", "assign", "start", "pause", "resume", "stop", "to_waiting_qc", "qc_pass"),
    }

    def __init__(self, users: dict[str, User], *, begins_at: datetime):
        self.users = users
        self.now = begins_at

    def tell(self, item: InventoryItem, demo: DemoTicket) -> Ticket:
        self.now += STEP
        parts = list(item.parts.order_by("id"))
        specs = [
            PartSpecInput(inventory_item_part_id=part.pk, color=_color(minutes), minutes=minutes)
            for part, minutes in zip(parts, demo.minutes, strict=False)
        ]
        ticket = workflow.create_ticket(
            inventory_item_id=item.pk, title=demo.title, part_specs=specs, master=self.user("demo-master"), at=self.now
        ).ticket
        technician = self.user(demo.technician) if demo.technician else None
        for step in self.PATHS[demo.status]:
            self.now += STEP
            self.steps[step](self, ticket.pk, technician)
        ticket.refresh_from_db()
        return ticket

    def user(self, username: str) -> User:
        return self.users[username]

    def _approve(self, ticket_id: int, technician: User | None) -> None:
        workflow.approve_ticket_review(ticket_id=ticket_id, actor=self.user(ADMIN_USERNAME), at=self.now)

    def _assign(self, ticket_id: int, technician: User | None) -> None:
        workflow.assign_ticket(
            ticket_id=ticket_id, technician_id=technician.pk, actor=self.user("demo-master"), at=self.now
        )

    def _start(self, ticket_id: int, technician: User | None) -> None:
        workflow.start_ticket(ticket_id=ticket_id, actor=technician, at=self.now)

    def _pause(self, ticket_id: int, technician: User | None) -> None:
        sessions.pause_work_session(ticket_id=ticket_id, actor=technician, at=self.now)

    def _resume(self, ticket_id: int, technician: User | None) -> None:
        sessions.resume_work_session(ticket_id=ticket_id, actor=technician, at=self.now)

    def _stop(self, ticket_id: int, technician: User | None) -> None:
        sessions.stop_work_session(ticket_id=ticket_id, actor=technician, at=self.now)

    def _to_waiting_qc(self, ticket_id: int, technician: User | None) -> None:
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket_id, actor=technician, at=self.now, note="ready for QC")

    def _qc_pass(self, ticket_id: int, technician: User | None) -> None:
        workflow.pass_ticket_qc(ticket_id=ticket_id, actor=self.user("demo-qc"), at=self.now, note="all good")

    def _qc_fail(self, ticket_id: int, technician: User | None) -> None:
        workflow.fail_ticket_qc(ticket_id=ticket_id, actor=self.user("demo-qc"), at=self.now, note="fork still leaks")

    steps: dict[str, Callable[["Story", int, User | None], None]] = {
        "approve": _approve,
        "assign": _assign,
        "start": _start,
        "pause": _pause,
        "resume": _resume,
        "stop": _stop,
        "to_waiting_qc": _to_waiting_qc,
        "qc_pass": _qc_pass,
        "qc_fail": _qc_fail,
    }


def _color(minutes: int) -> str:
    return FlagColor.GREEN if minutes <= 15 else FlagColor.YELLOW if minutes <= 30 else FlagColor.RED


def demo_admin_password() -> str:
    """Stable for one SECRET_KEY (so reruns change nothing and can print it), unguessable without it."""
    return salted_hmac("ticketflow.seed_demo.admin_password", ADMIN_USERNAME, algorithm="sha256").hexdigest()[:20]


class Command(BaseCommand):
    help = "Load idempotent demo data (items, users of every role, tickets in every state) and print API tokens."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the API answers, for examples")
        parser.add_argument(
            "--allow-non-debug",
            action="store_true",
            help="seed even with DJANGO_DEBUG=0 (creates a superuser whose password this command prints)",
        )

    def handle(self, *args, base_url: str, allow_non_debug: bool, **options):
        if not settings.DEBUG and not allow_non_debug:
            raise CommandError(
                "seed_demo creates a superuser and prints its password and API tokens; refusing with DJANGO_DEBUG=0."
                " Pass --allow-non-debug if this really is a demo installation."
            )
        with transaction.atomic():
            users = {demo.username: self.ensure_user(demo) for demo in DEMO_USERS}
            items = [self.ensure_item(demo) for demo in DEMO_ITEMS]
            story = Story(users, begins_at=utc_now().replace(microsecond=0) - STORY_LENGTH)
            # First: the story below leaves a technician with an open session, and no one works two at once.
            history = seed_past_days(users, today=local_day_of(story.now), warn=self.stderr.write)
            tickets = self.ensure_tickets(items, story)
            tokens = {username: ApiToken.issue(user)[1] for username, user in users.items()}
        self.report(items, tickets, users, tokens, base_url=base_url.rstrip("/"), history=len(history))

    # --- data ------------------------------------------------------------------------------------------

    def ensure_user(self, demo: DemoUser) -> User:
        user, _ = User.objects.get_or_create(username=demo.username)
        wanted = {
            "roles": sorted(demo.roles),
            "is_service": demo.is_service,
            "is_staff": demo.is_admin,
            "is_superuser": demo.is_admin,
            "is_active": True,
        }
        changed = [name for name, value in wanted.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, wanted[name])
        if demo.is_admin and not user.check_password(demo_admin_password()):
            user.set_password(demo_admin_password())
            changed.append("password")
        elif not demo.is_admin and user.has_usable_password():
            user.set_unusable_password()  # the API takes tokens; only the admin signs in to the Django admin
            changed.append("password")
        if changed:
            user.save(update_fields=changed)
        return user

    def ensure_item(self, demo: DemoItem) -> InventoryItem:
        item, _ = InventoryItem.objects.get_or_create(
            serial_number=demo.serial_number, defaults={"name": demo.name, "category": demo.category}
        )
        for name in demo.parts:
            InventoryItemPart.objects.get_or_create(inventory_item=item, name=name)
        return item

    def ensure_tickets(self, items: list[InventoryItem], story: Story) -> list[Ticket]:
        """One ticket per demo item that has a scenario, unless the item has any ticket already."""
        tickets = []
        for item, demo in zip(items, DEMO_ITEMS, strict=True):
            if demo.ticket is None:
                continue
            existing = Ticket.objects.filter(inventory_item=item).order_by("-id").first()
            if existing is not None:
                tickets.append(existing)
                continue
            try:
                with transaction.atomic():
                    tickets.append(story.tell(item, demo.ticket))
            except DomainError as exc:
                # Someone's own data got in the way (a demo technician busy elsewhere): skip this one, keep going.
                self.stderr.write(f"skipped the {demo.ticket.status} ticket of {item.serial_number}: {exc.message}")
        return tickets

    # --- output ----------------------------------------------------------------------------------------

    def report(self, items, tickets, users, tokens, *, base_url: str, history: int = 0) -> None:
        out = self.stdout.write
        out(self.style.MIGRATE_HEADING("ticketflow demo data"))
        out(f"{len(items)} inventory items, {len(users)} users, {len(tickets)} demo tickets")
        out(f"The last {PAST_DAYS} days' work ({history} tickets new this run): {base_url}/ops/shop-floor/")
        out("")
        out(self.style.MIGRATE_HEADING("Tickets"))
        out(f"  {'id':<6} {'status':<13} {'item':<17} {'technician':<12} title")
        usernames = {user.pk: username for username, user in users.items()}
        for ticket in sorted(tickets, key=lambda t: t.pk):
            technician = usernames.get(ticket.technician_id, "-")
            serial = ticket.inventory_item.serial_number
            out(f"  {ticket.pk:<6} {ticket.status:<13} {serial:<17} {technician:<12} {ticket.title}")
        out("")
        out(self.style.MIGRATE_HEADING("Users and API tokens (new on every run; earlier tokens stay valid)"))
        rows = [("username", "roles", "token")]
        for username, user in users.items():
            roles = ",".join(user.roles) or ("service (acts via actor_id)" if user.is_service else "-")
            rows.append((username, roles, tokens[username]))
        width_user = max(len(row[0]) for row in rows)
        width_roles = max(len(row[1]) for row in rows)
        for username, roles, token in rows:
            out(f"  {username:<{width_user}}  {roles:<{width_roles}}  {token}")
        out("")
        out(self.style.MIGRATE_HEADING("Django admin"))
        out(f"  {base_url}/admin/  user {ADMIN_USERNAME}  password {demo_admin_password()}")
        out("")
        out(self.style.MIGRATE_HEADING("Try the API"))
        out(f'  curl -H "Authorization: Bearer {tokens[ADMIN_USERNAME]}" {base_url}/api/v1/tickets')
        spare = self.spare_item(items)
        if spare is not None:
            body = {
                "type": "ticket.create",
                "inventory_item_id": spare.pk,
                "title": "Check the brakes",
                "part_specs": [
                    {"inventory_item_part_id": part.pk, "color": "green", "minutes": 20}
                    for part in spare.parts.order_by("id")[:2]
                ],
            }
            out(
                f'  curl -X POST -H "Authorization: Bearer {tokens["demo-master"]}" '
                f'-H "Content-Type: application/json" -H "Prefer: wait=5" '
                f"-d '{json.dumps(body)}' {base_url}/api/v1/commands"
            )

    @staticmethod
    def spare_item(items: list[InventoryItem]) -> InventoryItem | None:
        """An item that may take a new ticket, preferring one that never had any."""
        free = [item for item in items if not Ticket.domain.active_for_item(item.pk).exists()]
        never_ticketed = [item for item in free if not item.tickets.exists()]
        return (never_ticketed or free or [None])[0]
