"""The analytics read models (migration analytics 0002: per-ticket done and QC-fail facts, per-person UTC-day rollups;
0003: QC decisions per quarter hour) try to drift, and do not: after backdated commands (a QC
pass and an XP adjustment dated into days already rolled up), a rework cycle with a reassignment, XP taken away down
to a zero day, and a rules change that re-derives the active tickets' metrics before they pass, every table equals
the view that derives it from the histories, a rebuild changes nothing, and every endpoint's figures equal a
brute-force recomputation from the histories alone, over ranges whose local midnights (Europe/Berlin) are not UTC
midnights, so the rollups' ends are read from the facts.
"""

from collections import Counter
from datetime import timedelta

import pytest

from apps.analytics import read_models
from apps.commands.models import CommandStatus
from apps.commands.processing import apply_next
from apps.rules.selectors import active_rules
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import TicketAction, TicketTransition
from apps.ticket.services_rules_change import recompute_auto_metrics
from apps.xp.services import adjust_xp
from tests.support.builders import pending_command, workplace
from tests.support.clock import at_instant, frozen, utc
from tests.support.factories import TechnicianFactory, spec
from tests.support.rules import change_rules_at, use_rules

pytestmark = pytest.mark.django_db

ZONE = "Europe/Berlin"  # local midnight is 23:00 UTC in November: every range has ragged UTC ends

# Brute force from the histories alone, as the analytics read them before the read models existed. Who held a
# ticket at a QC fail is replayed in Python (`qc_fails_by_holder`), not copied from the view that derives it.
BRUTE_PERSONS = """
WITH done AS (
    SELECT (SELECT t.technician_id FROM ticket AS t WHERE t.id = p.ticket_id) AS technician_id,
           NOT EXISTS (SELECT 1 FROM ticket_transition AS f WHERE f.ticket_id = p.ticket_id AND f.action = 'qc_fail')
               AS first_pass
    FROM ticket_transition AS p
    WHERE p.action = 'qc_pass' AND p.created_at >= %(lo)s AND p.created_at < %(hi)s
),
xp AS (SELECT user_id, SUM(amount) AS xp FROM xp_entry WHERE created_at >= %(lo)s AND created_at < %(hi)s GROUP BY 1)
SELECT u.id,
       (SELECT COUNT(*) FROM done WHERE done.technician_id = u.id),
       (SELECT COUNT(*) FILTER (WHERE first_pass) FROM done WHERE done.technician_id = u.id),
       COALESCE((SELECT xp.xp FROM xp WHERE xp.user_id = u.id), 0)
FROM accounts_user AS u
ORDER BY u.id
"""

BRUTE_STAGES = """
SELECT EXTRACT(EPOCH FROM MIN(h.created_at) FILTER (WHERE h.action = 'review_approved')
                          - MIN(h.created_at) FILTER (WHERE h.action = 'created')),
       EXTRACT(EPOCH FROM MIN(h.created_at) FILTER (WHERE h.action = 'assigned')
                          - MIN(h.created_at) FILTER (WHERE h.action = 'review_approved')),
       EXTRACT(EPOCH FROM MIN(h.created_at) FILTER (WHERE h.action = 'started')
                          - MIN(h.created_at) FILTER (WHERE h.action = 'assigned')),
       EXTRACT(EPOCH FROM SUM(CASE h.action WHEN 'to_waiting_qc' THEN h.created_at - p.created_at
                                            WHEN 'started' THEN p.created_at - h.created_at END)),
       EXTRACT(EPOCH FROM SUM(CASE WHEN h.action IN ('qc_pass', 'qc_fail') THEN h.created_at - p.created_at
                                   WHEN h.action = 'to_waiting_qc' THEN p.created_at - h.created_at END)),
       EXTRACT(EPOCH FROM p.created_at - MIN(h.created_at) FILTER (WHERE h.action = 'created')),
       bool_or(h.action = 'qc_fail')
FROM ticket_transition AS p
JOIN ticket_transition AS h ON h.ticket_id = p.ticket_id
WHERE p.action = 'qc_pass' AND p.created_at >= %(lo)s AND p.created_at < %(hi)s
GROUP BY p.id
"""


def percentile_cont(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (rank - low) * (ordered[high] - ordered[low]), 6)


@pytest.fixture
def history(admin, master, inspector):
    """Four days of work in Berlin (2026-11-23..26 local), written out of order the ways the application allows."""
    use_rules(utc(2026, 11, 1), timezone=ZONE)
    tech1, tech2 = TechnicianFactory(), TechnicianFactory()

    def ticket(minutes, created, technician):
        item, parts = workplace()
        specs = [spec(part, m) for part, m in zip(parts, minutes, strict=True)]
        made = workflow.create_ticket(
            inventory_item_id=item.pk, title="t", part_specs=specs, master=master, at=created
        ).ticket
        workflow.approve_ticket_review(ticket_id=made.pk, actor=admin, at=created + timedelta(minutes=5))
        workflow.assign_ticket(
            ticket_id=made.pk, technician_id=technician.pk, actor=master, at=created + timedelta(minutes=9)
        )
        return made

    def work(made, technician, started, *, minutes=30):
        workflow.start_ticket(ticket_id=made.pk, actor=technician, at=started)
        sessions.stop_work_session(ticket_id=made.pk, actor=technician, at=started + timedelta(minutes=minutes))
        workflow.move_ticket_to_waiting_qc(
            ticket_id=made.pk, actor=technician, at=started + timedelta(minutes=minutes + 1)
        )

    # Around the local midnight of the 24th (23:00 UTC on the 23rd): done just before and just after it.
    a = ticket((10, 15), utc(2026, 11, 23, 20), tech1)
    work(a, tech1, utc(2026, 11, 23, 21))
    workflow.pass_ticket_qc(ticket_id=a.pk, actor=inspector, at=utc(2026, 11, 23, 22, 59, 59))
    b = ticket((25, 20), utc(2026, 11, 23, 21), tech2)
    work(b, tech2, utc(2026, 11, 23, 22))
    workflow.pass_ticket_qc(ticket_id=b.pk, actor=inspector, at=utc(2026, 11, 23, 23, 30))

    # A rework cycle: failed while tech1 held it, reassigned to tech2, failed again, then passed.
    c = ticket((40, 30), utc(2026, 11, 24, 8), tech1)
    work(c, tech1, utc(2026, 11, 24, 9))
    workflow.fail_ticket_qc(ticket_id=c.pk, actor=inspector, at=utc(2026, 11, 24, 10))
    workflow.assign_ticket(ticket_id=c.pk, technician_id=tech2.pk, actor=master, at=utc(2026, 11, 24, 10, 5))
    work(c, tech2, utc(2026, 11, 24, 11), minutes=90)
    workflow.fail_ticket_qc(ticket_id=c.pk, actor=inspector, at=utc(2026, 11, 25, 9))
    work(c, tech2, utc(2026, 11, 25, 10), minutes=20)
    workflow.pass_ticket_qc(ticket_id=c.pk, actor=inspector, at=utc(2026, 11, 25, 23, 10))  # the 26th, local

    # A rules change that re-derives the active tickets' metrics: d passes (and earns XP) under the new rules.
    d = ticket((30, 30), utc(2026, 11, 25, 12), tech1)
    work(d, tech1, utc(2026, 11, 25, 13))
    change_rules_at(
        utc(2026, 11, 25, 14),
        {"work_session": {"timezone": ZONE}, "ticket_xp": {"base_divisor": 7, "flag_yellow_max_minutes": 50}},
    )
    recompute_auto_metrics(xp_rules=active_rules().config.ticket_xp, at=utc(2026, 11, 25, 14))
    workflow.pass_ticket_qc(ticket_id=d.pk, actor=inspector, at=utc(2026, 11, 25, 15))

    # Backdated commands, applied after later days were written: a QC pass pressed on the 24th (UTC), applied on
    # the 26th; an XP adjustment pressed on the 23rd that takes away everything tech1 earned that UTC day.
    e = ticket((5, 5), utc(2026, 11, 24, 12), tech2)
    work(e, tech2, utc(2026, 11, 24, 12, 20), minutes=5)
    pending_command(inspector, "ticket.qc_pass", at=utc(2026, 11, 24, 13), ticket_id=e.pk)
    assert at_instant(utc(2026, 11, 26, 9), lambda now: apply_next(f"ticket:{e.pk}", now=now)).status == (
        CommandStatus.SUCCEEDED
    )
    earned = sum_xp(tech1.pk, utc(2026, 11, 23), utc(2026, 11, 24))
    assert earned > 0
    pending_command(
        admin,
        "xp.adjust",
        at=utc(2026, 11, 23, 23, 45),
        lane=f"technician:{tech1.pk}",
        technician_id=tech1.pk,
        amount=-earned,
        reason="backdated correction",
    )
    assert at_instant(utc(2026, 11, 26, 9, 1), lambda now: apply_next(f"technician:{tech1.pk}", now=now)).status == (
        CommandStatus.SUCCEEDED
    )
    adjust_xp(technician_id=tech2.pk, amount=7, reason="bonus", at=utc(2026, 11, 26, 22, 30))  # the 26th, local
    return tech1, tech2


def qc_fails_by_holder(lo, hi) -> Counter:
    """The `qc_fail`s in [lo, hi) per technician who held the ticket then: each failed ticket's history replayed
    in the order it was written (instant, then id), the holder being whom the latest `assigned` named."""
    failed = TicketTransition.objects.filter(action=TicketAction.QC_FAIL, created_at__gte=lo, created_at__lt=hi)
    fails = Counter()
    for ticket_id in set(failed.values_list("ticket_id", flat=True)):
        holder = None
        for transition in TicketTransition.objects.filter(ticket_id=ticket_id).order_by("created_at", "id"):
            if transition.action == TicketAction.ASSIGNED:
                holder = transition.metadata["technician_id"]
            elif transition.action == TicketAction.QC_FAIL and lo <= transition.created_at < hi and holder is not None:
                fails[holder] += 1
    return fails


def sum_xp(user_id: int, lo, hi) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM xp_entry WHERE user_id = %s AND created_at >= %s AND created_at < %s",
            [user_id, lo, hi],
        )
        return cursor.fetchone()[0]


def brute(sql: str, lo, hi) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, {"lo": lo, "hi": hi})
        return cursor.fetchall()


RANGES = [  # local dates, and their UTC bounds (CET, UTC+1)
    ("2026-11-23", "2026-11-26"),
    ("2026-11-24", "2026-11-24"),
    ("2026-11-24", "2026-11-25"),
    ("2026-11-26", "2026-11-26"),
    ("2026-11-20", "2026-11-30"),
]


def bounds(first: str, last: str):
    from datetime import date

    start = date.fromisoformat(first)
    end = date.fromisoformat(last) + timedelta(days=1)
    return utc(start.year, start.month, start.day) - timedelta(hours=1), utc(end.year, end.month, end.day) - timedelta(
        hours=1
    )


def test_the_read_models_equal_their_derivation_from_the_histories(history):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(*) FILTER (WHERE first_pass) FROM analytics_ticket_done")
        assert cursor.fetchone() == (5, 4)
        cursor.execute("SELECT COUNT(*) FROM analytics_qc_fail")
        assert cursor.fetchone() == (2,)
    assert list(read_models.drift(most=100)) == []
    read_models.rebuild()
    assert list(read_models.drift(most=100)) == []


def test_a_person_day_split_across_rows_still_sums_exactly(history):
    """Writers that find a person's day locked append a second row for it (SKIP LOCKED): the sums still agree."""
    from django.db import connection

    tech1, _tech2 = history
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO analytics_person_day (user_id, day, xp, tickets_done, first_pass, qc_fails)"
            " VALUES (%s, '2026-11-25', 0, 0, 0, 0)",
            [tech1.pk],
        )
    adjust_xp(technician_id=tech1.pk, amount=3, reason="split", at=utc(2026, 11, 25, 16))
    assert list(read_models.drift(most=100)) == []


@pytest.mark.parametrize(("first", "last"), RANGES)
def test_every_figure_equals_a_recomputation_from_the_histories(api, admin, history, first, last):
    lo, hi = bounds(first, last)
    query = f"from={first}&to={last}"
    with frozen(utc(2026, 12, 1, 12)):
        technicians = api.get(f"/api/v1/analytics/technicians?{query}", admin).json()["items"]
        board = api.get(f"/api/v1/analytics/leaderboard?{query}&limit=100", admin).json()["items"]
        figures = api.get(f"/api/v1/analytics/tickets?{query}", admin).json()

    held_fails = qc_fails_by_holder(lo, hi)
    persons = {
        user: (done, first_pass, held_fails[user], xp) for user, done, first_pass, xp in brute(BRUTE_PERSONS, lo, hi)
    }
    for item in technicians:
        done, first_pass, fails, xp = persons[item["technician_id"]]
        assert (item["tickets_done"], item["qc_fails"], item["xp"]) == (done, fails, xp)
        assert item["first_pass_rate"] == (first_pass / done if done else None)
    expected_board = sorted(
        ((user, row[3], row[0], row[1] / row[0] if row[0] else None) for user, row in persons.items() if row[3] > 0),
        key=lambda entry: (-entry[1], entry[0]),
    )
    assert [tuple(entry.values()) for entry in board] == expected_board

    stages = brute(BRUTE_STAGES, lo, hi)
    assert figures["done"] == len(stages)
    assert figures["first_pass_rate"] == (sum(not row[6] for row in stages) / len(stages) if stages else None)
    for index, stage in enumerate(("review", "assignment", "start", "work", "qc", "total")):
        values = [float(row[index]) for row in stages if row[index] is not None]
        assert figures["cycle_seconds"][stage] == {
            "n": len(values),
            "p50": percentile_cont(values, 0.5),
            "p90": percentile_cont(values, 0.9),
        }


def test_check_invariants_reports_a_read_model_that_drifted(history):
    from django.db import connection

    from apps.audit.invariants import find_violations

    def analytics_violations():
        return [v for v in find_violations(now=utc(2026, 12, 1)) if v.startswith("analytics_read_models")]

    assert analytics_violations() == []
    with connection.cursor() as cursor:
        cursor.execute("UPDATE analytics_ticket_done SET work_seconds = work_seconds + 1 WHERE first_pass")
        cursor.execute(
            "UPDATE analytics_person_day SET xp = xp + 1 WHERE id = (SELECT MIN(id) FROM analytics_person_day)"
        )
        cursor.execute(
            "UPDATE analytics_ticket_quarter SET qc_passes = qc_passes + 1"
            " WHERE id = (SELECT MIN(id) FROM analytics_ticket_quarter)"
        )
    found = analytics_violations()
    assert any("analytics_ticket_quarter in the table" in v for v in found)
    assert any("analytics_ticket_done in the table" in v for v in found)
    assert any("analytics_ticket_done missing from table" in v for v in found)
    assert any("analytics_person_day" in v for v in found)


@pytest.mark.django_db(transaction=True)  # TRUNCATE as the suite's flush runs it: outside a test's transaction
def test_emptied_histories_empty_the_read_models():
    """Only the test suite's flush may empty an append-only history; what derives from it follows."""
    from django.db import connection

    technician = TechnicianFactory()
    adjust_xp(technician_id=technician.pk, amount=5, reason="given", at=utc(2026, 11, 26, 9))

    def rows():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM analytics_person_day")
            return cursor.fetchone()[0]

    assert rows() == 1
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE xp_entry")
    assert rows() == 0

    def quarters():
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM analytics_ticket_quarter")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO analytics_ticket_quarter (quarter, qc_passes) VALUES ('2026-11-26 09:00Z', 1)")
        assert quarters() == 1
        cursor.execute("TRUNCATE ticket CASCADE")
    assert quarters() == 0


def test_the_tickets_figures_read_from_the_quarters_equal_those_read_from_the_histories(history, monkeypatch):
    """After a flag changed, a ticket deleted and a creation instant moved (written past the services, as a bulk fix
    would): no drift, and the tickets' per-day figures with the QC decisions read from the quarter hours equal
    those read from the history, the tickets created counted by their flag now while they are not deleted."""
    from datetime import date

    from apps.analytics import tickets
    from apps.analytics.ranges import day_range
    from apps.ticket.models import Ticket

    first, second, third = Ticket.objects.order_by("pk")[:3]
    Ticket.objects.filter(pk=first.pk).update(flag_color="green" if first.flag_color == "red" else "red")
    Ticket.objects.filter(pk=second.pk).update(deleted_at=utc(2026, 11, 27))
    Ticket.objects.filter(pk=third.pk).update(created_at=third.created_at - timedelta(days=1, minutes=7))
    assert list(read_models.drift(most=100)) == []

    span = day_range(date(2026, 11, 20), date(2026, 11, 30), ZONE)
    assert all(tickets._whole_quarter(day.start) for day in span.days)  # Berlin's days: read from the quarters
    from_quarters = tickets.tickets_summary(span)
    monkeypatch.setattr(tickets, "_whole_quarter", lambda instant: False)  # as for a zone off the quarter hours
    assert tickets.tickets_summary(span) == from_quarters
    assert (from_quarters.created, from_quarters.done) == (Ticket.objects.filter(deleted_at=None).count(), 5)


def test_the_dashboard_first_pass_chart_equals_a_recomputation_from_the_histories(history):
    from datetime import date

    from apps.analytics import tickets
    from apps.analytics.ranges import day_range

    span = day_range(date(2026, 11, 22), date(2026, 11, 27), ZONE)
    expected = []
    for day in span.days:
        stages = brute(BRUTE_STAGES, day.start, day.end)
        expected.append((day.day, len(stages), sum(not row[6] for row in stages)))
    assert tickets.first_pass_per_day(span) == expected
    assert sum(done for _day, done, _first in expected) == 5
