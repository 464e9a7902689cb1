"""Event time, as a property: whatever the presses, the processing delays and the deadlines, the recorded history
of a session is the pressed history (clamped to be monotonic), with automatic resumes exactly at the deadlines the
budget sets, and the accounting adds up."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.models import system_user
from apps.commands.processing import apply_next
from apps.ticket.models import WorkSession
from tests.support.builders import Shop, pending_command, working_since, workplace
from tests.support.clock import nov26
from tests.support.factories import TechnicianFactory
from tests.support.rules import use_rules

pytestmark = pytest.mark.django_db

STARTED = nov26(8)
LIMIT = 600  # seconds of pause a day: small, so deadlines come often

ACTIONS = ["work_session.pause", "work_session.resume", "work_session.stop"]


@dataclass
class Model:
    """What the history must be: the presses in order, applied as pressed, with the budget's automatic resumes."""

    status: str = "running"
    used: float = 0.0
    paused_at: datetime | None = None
    deadline: datetime | None = None
    history: list[tuple[str, datetime]] = field(default_factory=lambda: [("started", STARTED)])

    def settle(self, at: datetime) -> None:
        if self.status == "paused" and self.deadline <= at:
            self.used += (self.deadline - self.paused_at).total_seconds()
            self.status = "running"
            self.history.append(("resumed", self.deadline))

    def press(self, action: str, at: datetime) -> bool:
        self.settle(at)
        if action == "work_session.pause" and self.status == "running" and self.used < LIMIT:
            self.status, self.paused_at = "paused", at
            self.deadline = at + timedelta(seconds=LIMIT - self.used)
            self.history.append(("paused", at))
        elif action == "work_session.resume" and self.status == "paused":
            self.used += (at - self.paused_at).total_seconds()
            self.status = "running"
            self.history.append(("resumed", at))
        elif action == "work_session.stop" and self.status != "stopped":
            if self.status == "paused":
                self.used += (at - self.paused_at).total_seconds()
            self.status = "stopped"
            self.history.append(("stopped", at))
        else:
            return False
        return True


presses = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS), st.integers(min_value=1, max_value=900), st.integers(min_value=0, max_value=1200)
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(presses=presses, sweep_lateness=st.integers(min_value=0, max_value=30))
def test_the_recorded_history_is_the_pressed_history_whatever_the_processing_delays(
    admin, master, presses, sweep_lateness
):
    """Each press is stored at its instant and applied after its own processing delay; the sweep stores an
    automatic resume `sweep_lateness` seconds after each deadline it sees by the processing clock."""
    use_rules(STARTED - timedelta(hours=1), daily_pause_limit_seconds=LIMIT)
    technician = TechnicianFactory()
    item, parts = workplace()
    shop = Shop(admin=admin, master=master, technician=technician, item=item, parts=parts)
    ticket = working_since(shop, STARTED)
    session = WorkSession.objects.get(ticket=ticket)
    lane = f"ticket:{ticket.pk}"

    # Stores (press instants and sweep visits) and applications (press + delay) on one processing timeline.
    at, timeline = STARTED, []
    for action, gap, delay in presses:
        at += timedelta(seconds=gap)
        timeline.append((at, 0, action))
        timeline.append((at + timedelta(seconds=delay), 1, None))
    timeline.sort(key=lambda step: (step[0], step[1]))
    for instant, kind, action in timeline:
        if kind == 0:
            pending_command(technician, action, at=instant, ticket_id=ticket.pk)
            continue
        _drain(lane, instant)
        if _sweep(session, ticket, until=instant, lateness=sweep_lateness):
            _drain(lane, instant)

    model = Model()
    at = STARTED
    for action, gap, _ in presses:
        at += timedelta(seconds=gap)
        model.press(action, at)
    last_visit = timeline[-1][0]
    model.settle(last_visit - timedelta(seconds=sweep_lateness))  # the sweep's last visit, if the deadline came

    recorded = list(session.transitions.order_by("event_at", "id").values_list("action", "event_at"))
    assert recorded == model.history
    assert [at for _, at in recorded] == sorted(at for _, at in recorded)
    session.refresh_from_db()
    end = recorded[-1][1]
    running = float(session.recalculate_active_seconds(until=end))
    paused = sum(
        (interval.end or end).timestamp() - interval.start.timestamp() for interval in session.pause_intervals()
    )
    assert running + paused == pytest.approx((end - STARTED).total_seconds(), abs=1e-6)
    assert paused <= LIMIT + 1e-6


def _drain(lane: str, instant: datetime) -> None:
    while (applied := apply_next(lane, now=instant)) is not None:
        assert applied.status in ("succeeded", "rejected"), applied.error_message


def _sweep(session: WorkSession, ticket, *, until: datetime, lateness: int) -> bool:
    """The sweep, visiting at `until` on the processing clock: a session still paused there whose deadline came
    `lateness` seconds or more before gets its automatic resume stored, behind everything stored so far."""
    session.refresh_from_db()
    if session.status != "paused" or session.auto_resume_at + timedelta(seconds=lateness) > until:
        return False
    pending_command(system_user(), "work_session.auto_resume", at=until, ticket_id=ticket.pk, session_id=session.pk)
    return True
