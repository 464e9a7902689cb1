"""The demo shop's last few days, so the shop-floor dashboard has a history to show on a fresh `make run`.

Each demo technician works two tickets a day on a bench item of their own, through the services like real traffic:
pauses, a QC fail and its rework, and pauses that run out and are resumed automatically at their deadline.
Idempotent: a bench item that already has tickets is left alone.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction

from apps.accounts.models import User
from apps.common.errors import DomainError
from apps.inventory.models import InventoryItem, InventoryItemPart
from apps.rules.selectors import active_rules
from apps.ticket import pause_budget
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.inputs import PartSpecInput
from apps.ticket.models import Ticket

DAYS = 3
TECHNICIANS = ("demo-tech-1", "demo-tech-2", "demo-tech-3")
PARTS = ("frame", "drivetrain", "brakes")


@dataclass(frozen=True)
class Job:
    """One ticket of a day, at local times: worked from `start` to `stop`, paused at each (from, to) of `pauses`
    (`to` None: the pause runs until the budget is spent and is resumed automatically); `fail` sends it back once."""

    start: time
    stop: time
    minutes: tuple[int, ...]
    pauses: tuple[tuple[time, time | None], ...] = ()
    fail: bool = False


# Per technician (by position), the two jobs of each day; shifted a little each day so the days differ.
JOBS = (
    (
        Job(time(8, 0), time(10, 30), (40, 30, 20), pauses=((time(9, 15), time(9, 30)),)),
        Job(time(11, 0), time(14, 0), (30, 20, 10), pauses=((time(12, 30), None),)),
    ),
    (
        Job(time(8, 30), time(11, 0), (60, 45, 15), fail=True),
        Job(time(13, 0), time(16, 30), (20, 10, 10), pauses=((time(14, 0), time(14, 10)), (time(15, 0), time(15, 5)))),
    ),
    (
        Job(time(9, 0), time(12, 0), (25, 25, 25), pauses=((time(10, 0), time(10, 20)),)),
        Job(time(12, 45), time(15, 45), (15, 10, 5), pauses=((time(14, 0), None),)),
    ),
)


def local_day_of(instant: datetime) -> date:
    """The local day (in the rules' zone) `instant` falls on: pass the live story's first instant, so that the past
    days end before it and leave the story's own first day (yesterday, just after midnight) its pause budget."""
    return pause_budget.local_day_of(instant, active_rules().config.work_session.zone)


def seed_past_days(users: dict[str, User], *, today: date, warn: Callable[[str], object]) -> list[Ticket]:
    """The demo technicians' last DAYS days (before `today`, a local date in the rules' zone). A technician whose
    own data gets in the way (an open session elsewhere) is skipped, with a warning."""
    zone = active_rules().config.work_session.zone
    tickets = []
    for position, username in enumerate(TECHNICIANS):
        item = _bench_item(username)
        if item.tickets.exists():
            continue
        try:
            with transaction.atomic():
                for back in range(DAYS, 0, -1):
                    day, shift = today - timedelta(days=back), timedelta(minutes=7 * back)
                    for job in JOBS[position]:
                        tickets.append(_work(job, item, users, username, lambda t, d=day, s=shift: _at(d, t, zone) + s))
        except DomainError as exc:
            warn(f"skipped the past days of {username}: {exc.message}")
    return tickets


def _bench_item(username: str) -> InventoryItem:
    item, _ = InventoryItem.objects.get_or_create(
        serial_number=f"DEMO-BENCH-{username.rsplit('-', 1)[-1]}",
        defaults={"name": f"Workshop bench bike of {username}", "category": "bike"},
    )
    for name in PARTS:
        InventoryItemPart.objects.get_or_create(inventory_item=item, name=name)
    return item


def _work(job: Job, item: InventoryItem, users: dict[str, User], username: str, at) -> Ticket:
    admin, master, inspector, tech = users["demo-admin"], users["demo-master"], users["demo-qc"], users[username]
    parts = list(item.parts.order_by("id"))
    specs = [
        PartSpecInput(inventory_item_part_id=p.pk, color="green", minutes=m)
        for p, m in zip(parts, job.minutes, strict=True)
    ]
    start = at(job.start)
    ticket = workflow.create_ticket(
        inventory_item_id=item.pk, title="Bench job", part_specs=specs, master=master, at=start - timedelta(minutes=45)
    ).ticket
    workflow.approve_ticket_review(ticket_id=ticket.pk, actor=admin, at=start - timedelta(minutes=30))
    workflow.assign_ticket(ticket_id=ticket.pk, technician_id=tech.pk, actor=master, at=start - timedelta(minutes=15))
    workflow.start_ticket(ticket_id=ticket.pk, actor=tech, at=start)
    for paused, resumed in job.pauses:
        session = sessions.pause_work_session(ticket_id=ticket.pk, actor=tech, at=at(paused)).work_session
        if resumed is None:  # the budget runs out: resumed at the deadline, as the sweep would
            sessions.auto_resume_work_session(session_id=session.pk, at=session.auto_resume_at)
        else:
            sessions.resume_work_session(ticket_id=ticket.pk, actor=tech, at=at(resumed))
    stop = at(job.stop)
    if job.fail:
        middle = start + (stop - start) / 2
        sessions.stop_work_session(ticket_id=ticket.pk, actor=tech, at=middle)
        workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=tech, at=middle + timedelta(minutes=1))
        workflow.fail_ticket_qc(ticket_id=ticket.pk, actor=inspector, at=middle + timedelta(minutes=10))
        workflow.start_ticket(ticket_id=ticket.pk, actor=tech, at=middle + timedelta(minutes=15))
    sessions.stop_work_session(ticket_id=ticket.pk, actor=tech, at=stop)
    workflow.move_ticket_to_waiting_qc(ticket_id=ticket.pk, actor=tech, at=stop + timedelta(minutes=2))
    workflow.pass_ticket_qc(ticket_id=ticket.pk, actor=inspector, at=stop + timedelta(minutes=20))
    return ticket


def _at(day: date, clock: time, zone) -> datetime:
    return pause_budget.as_utc(datetime.combine(day, clock, tzinfo=zone))
