"""`manage.py check_invariants` (apps.audit.invariants.py): clean on a healthy shop, and each kind of violation,
planted past the database's own guards, is found and named.

The guards are bypassed inside the test's transaction, so the rollback restores them: a partial unique index is
dropped (DDL is transactional in PostgreSQL), or `SET LOCAL session_replication_role = replica` switches off the
append-only triggers for the transaction (that setting needs a superuser; the test database's user is one).
"""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection

from apps.audit.invariants import check_invariants, find_violations
from apps.commands.models import Command
from apps.common.time import utc_now
from apps.rules.config import DEFAULT_CONFIG
from apps.rules.selectors import publish_active_version
from apps.rules.services import change_rules
from apps.ticket import services_rules_change as rules_change
from apps.ticket import services_work_session as sessions
from apps.ticket import services_workflow as workflow
from apps.ticket.models import SessionStatus, Ticket, TicketTransition, WorkSession, WorkSessionTransition
from apps.xp.models import XpEntry
from tests.support.builders import workplace
from tests.support.clock import T0, first_pause_runs_out, next_local_midnight, nov26
from tests.support.factories import InventoryItemFactory, TechnicianFactory
from tests.support.rules import change_rules_at


def checks_of(violations: list[str]) -> set[str]:
    return {violation.split(":", 1)[0] for violation in violations}


def sql(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def drop_index(name: str) -> None:
    sql(f"DROP INDEX {name}")  # rolled back with the test


def triggers_off() -> None:
    sql("SET LOCAL session_replication_role = replica")


def command(**fields) -> Command:
    """A command row as given; pressed when submitted, and judged then if it is final."""
    defaults = {"type": "ticket.start", "payload": {"ticket_id": 1}, "lane": "ticket:1", "fingerprint": "-"}
    if "submitted_at" in fields:
        defaults["occurred_at"] = fields["submitted_at"]
        if fields.get("status") in ("succeeded", "rejected"):
            defaults["effective_at"] = fields["submitted_at"]
    return Command.objects.create(**{**defaults, **fields})


def with_item(shop):
    item, parts = workplace(("fork", "bell"))
    return {"item": item, "parts": parts}


@pytest.fixture
def healthy(shop):
    """A day in the shop: a ticket passed QC (XP), one reworked, one worked with pauses, one paused now,
    one waiting for review; commands that finished, and one just submitted."""
    done = shop.waiting_qc()
    workflow.pass_ticket_qc(ticket_id=done.pk, actor=shop.inspector, at=shop.tick())

    reworked = shop.waiting_qc(**with_item(shop))
    workflow.fail_ticket_qc(ticket_id=reworked.pk, actor=shop.inspector, at=shop.tick())

    other = TechnicianFactory()
    worked = shop.started(technician=other, **with_item(shop)).ticket
    for step in (sessions.pause_work_session, sessions.resume_work_session) * 2 + (sessions.stop_work_session,):
        step(ticket_id=worked.pk, actor=other, at=shop.tick(300))

    third = TechnicianFactory()
    paused = shop.started(technician=third, **with_item(shop)).ticket
    sessions.pause_work_session(ticket_id=paused.pk, actor=third, at=shop.tick(90))

    shop.create(**with_item(shop))
    three_hours_ago = utc_now() - timedelta(hours=3)
    command(
        status="succeeded",
        submitter=shop.admin,
        submitted_at=three_hours_ago,
        finished_at=three_hours_ago,
        result={},
    )
    command(submitter=shop.admin, submitted_at=utc_now() - timedelta(seconds=2))
    return {"done": done, "reworked": reworked, "worked": worked, "paused": paused, "technician": third}


def test_a_healthy_shop_has_no_violations(healthy):
    report = check_invariants(now=utc_now())

    assert report.violations == []
    assert report.counts["work sessions"] == 4
    assert report.counts["paused sessions"] == 1
    assert report.counts["tickets"] == 5
    assert XpEntry.objects.exists() and WorkSessionTransition.objects.count() >= 10


def test_the_command_prints_a_one_line_summary_with_counts_when_all_hold(healthy):
    out = StringIO()

    call_command("check_invariants", stdout=out)

    [line] = out.getvalue().splitlines()
    assert line.startswith("OK: no invariant violations (4 work sessions, 1 paused sessions, 5 tickets, ")
    assert "1 pending commands" in line


def test_the_command_lists_the_violations_and_fails(healthy):
    WorkSession.objects.filter(pk=healthy["worked"].work_sessions.get().pk).update(active_seconds=1)
    out = StringIO()

    with pytest.raises(CommandError, match="1 invariant violation"):
        call_command("check_invariants", stdout=out)

    assert out.getvalue().startswith("active_seconds: work session ")


def test_the_command_exits_non_zero(healthy, tmp_path):
    WorkSession.objects.filter(pk=healthy["worked"].work_sessions.get().pk).update(active_seconds=1)

    with pytest.raises(SystemExit) as exited:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", "check_invariants"])

    assert exited.value.code == 1


# --- active seconds ----------------------------------------------------------------------------------------------


def test_a_stored_active_time_that_differs_from_the_history_is_found(healthy):
    session = healthy["worked"].work_sessions.get()
    WorkSession.objects.filter(pk=session.pk).update(active_seconds=session.active_seconds + 1)

    assert find_violations(now=utc_now()) == [
        f"active_seconds: work session {session.pk} stores {session.active_seconds + 1:.6f} s, "
        f"its history gives {session.active_seconds:.6f} s"
    ]


def test_the_active_time_check_reads_in_batches_and_finds_a_drift_in_a_later_batch(healthy):
    last = WorkSession.objects.order_by("-pk").first()
    WorkSession.objects.filter(pk=last.pk).update(active_seconds=last.active_seconds + 5)

    violations = find_violations(now=utc_now(), batch_size=1)

    assert [v.split(" stores")[0] for v in violations] == [f"active_seconds: work session {last.pk}"]


def test_a_missing_history_row_is_found_through_the_active_time(healthy):
    session = healthy["worked"].work_sessions.get()
    resumed = session.transitions.filter(action="resumed").first()
    triggers_off()
    WorkSessionTransition.objects.filter(pk=resumed.pk)._raw_delete(connection.alias)

    assert checks_of(find_violations(now=utc_now())) == {"active_seconds", "session_chain"}


def test_a_large_table_is_read_in_batches_with_a_bounded_number_of_queries(
    healthy, shop, django_assert_max_num_queries
):
    sql(
        """
        WITH added AS (
            INSERT INTO work_session
                (ticket_id, technician_id, status, started_at, ended_at, active_seconds, updated_at)
            SELECT %(ticket)s, %(technician)s, 'stopped', at, at + interval '75 s', 75, at + interval '75 s'
            FROM generate_series(1, 20000) n, LATERAL (SELECT %(t0)s::timestamptz - n * interval '1 hour' AS at) t
            RETURNING id, started_at, ended_at
        )
        INSERT INTO work_session_transition (session_id, action, from_status, to_status, event_at, metadata)
        SELECT id, 'started', NULL, 'running', started_at, '{}'::jsonb FROM added
        UNION ALL
        SELECT id, 'stopped', 'running', 'stopped', ended_at, '{}'::jsonb FROM added
        """,
        {"ticket": healthy["done"].pk, "technician": shop.technician.pk, "t0": T0},
    )
    drifted = WorkSession.objects.order_by("pk")[10_000]
    WorkSession.objects.filter(pk=drifted.pk).update(active_seconds=74)

    with django_assert_max_num_queries(40):
        report = check_invariants(now=utc_now(), batch_size=5000)

    assert report.counts["work sessions"] == 20_004
    assert report.violations == [
        f"active_seconds: work session {drifted.pk} stores 74.000000 s, its history gives 75.000000 s"
    ]


# --- one open session, one active ticket ---------------------------------------------------------------------------


def _open_session(ticket, technician, at) -> WorkSession:
    session = WorkSession.objects.create(
        ticket=ticket, technician=technician, status="running", started_at=at, updated_at=at
    )
    WorkSessionTransition.objects.create(session=session, action="started", to_status="running", event_at=at)
    return session


def test_a_ticket_with_two_open_sessions_is_found(healthy, shop):
    ticket = healthy["paused"]
    first = ticket.work_sessions.get()
    drop_index("work_session_one_open_per_ticket")
    second = _open_session(ticket, TechnicianFactory(), shop.tick())

    assert find_violations(now=utc_now()) == [
        f"open_session_per_ticket: ticket {ticket.pk} has 2 open sessions: {first.pk}, {second.pk}"
    ]


def test_a_technician_with_two_open_sessions_is_found(healthy, shop):
    technician = healthy["technician"]
    first = WorkSession.domain.open_for_technician(technician.pk).get()
    ticket = shop.assigned(technician=technician, **with_item(shop))
    drop_index("work_session_one_open_per_technician")
    second = _open_session(ticket, technician, shop.tick())

    assert find_violations(now=utc_now()) == [
        f"open_session_per_technician: technician {technician.pk} has 2 open sessions: {first.pk}, {second.pk}"
    ]


def test_an_item_with_two_active_tickets_is_found(healthy, shop):
    first = healthy["paused"]
    drop_index("ticket_one_active_per_item")
    second = Ticket.objects.create(
        inventory_item=first.inventory_item, master=shop.master, created_at=shop.tick(), updated_at=shop.now
    )
    second.add_transition(action="created", from_status=None, to_status="under_review", actor=shop.master, at=shop.now)

    assert find_violations(now=utc_now()) == [
        f"active_ticket_per_item: item {first.inventory_item_id} has 2 active tickets: {first.pk}, {second.pk}"
    ]


def test_a_done_ticket_and_an_active_one_on_the_same_item_are_fine(healthy, shop):
    done = healthy["done"]
    workflow.create_ticket(
        inventory_item_id=done.inventory_item_id, title="again", part_specs=[], master=shop.master, at=shop.tick()
    )

    assert find_violations(now=utc_now()) == []


# --- history chains ------------------------------------------------------------------------------------------------


def test_a_ticket_transition_that_does_not_start_where_the_last_one_ended_is_found(healthy, shop):
    ticket = healthy["reworked"]
    stray = ticket.add_transition(
        action="assigned", from_status="new", to_status="rework", actor=shop.master, at=shop.tick()
    )

    assert find_violations(now=utc_now()) == [
        f"ticket_chain: ticket {ticket.pk}: transition {stray.pk} starts from 'new' but the previous one ended in "
        "'rework'"
    ]


def test_a_first_ticket_transition_with_a_from_status_is_found(healthy):
    ticket = healthy["done"]
    first = TicketTransition.domain.history_for_ticket(ticket.pk).first()
    triggers_off()  # transitions are append-only: the trigger refuses this UPDATE otherwise
    sql("UPDATE ticket_transition SET from_status = 'new' WHERE id = %s", [first.pk])

    assert find_violations(now=utc_now()) == [
        f"ticket_chain: ticket {ticket.pk}: first transition {first.pk} starts from 'new', not None"
    ]


def test_the_append_only_trigger_is_what_the_replica_role_bypasses(healthy):
    first = TicketTransition.domain.history_for_ticket(healthy["done"].pk).first()

    with pytest.raises(IntegrityError, match="append-only"):
        sql("UPDATE ticket_transition SET from_status = 'new' WHERE id = %s", [first.pk])


def test_a_ticket_whose_status_is_not_where_its_history_ends_is_found(healthy):
    ticket = healthy["done"]
    Ticket.objects.filter(pk=ticket.pk).update(status="rework")

    assert find_violations(now=utc_now()) == [
        f"ticket_last_status: ticket {ticket.pk} is 'rework' but its last transition ends in 'done'"
    ]


def test_a_ticket_without_history_is_found(healthy, shop):
    item = InventoryItemFactory()
    orphan = Ticket.objects.create(inventory_item=item, master=shop.master, created_at=shop.now, updated_at=shop.now)

    assert find_violations(now=utc_now()) == [f"ticket_last_status: ticket {orphan.pk} ('under_review') has no history"]


def test_a_session_transition_that_does_not_start_where_the_last_one_ended_is_found(healthy, shop):
    session = healthy["worked"].work_sessions.get()
    stray = WorkSessionTransition.objects.create(
        session=session, action="stopped", from_status="running", to_status="stopped", event_at=shop.tick()
    )

    assert find_violations(now=utc_now()) == [
        f"session_chain: work session {session.pk}: transition {stray.pk} starts from 'running' but the previous "
        "one ended in 'stopped'"
    ]


def test_a_first_session_transition_with_a_from_status_is_found(healthy):
    session = healthy["worked"].work_sessions.get()
    first = session.history()[0]
    triggers_off()
    sql("UPDATE work_session_transition SET from_status = 'paused' WHERE id = %s", [first.pk])

    assert find_violations(now=utc_now()) == [
        f"session_chain: work session {session.pk}: first transition {first.pk} starts from 'paused', not None"
    ]


def test_a_session_whose_status_is_not_where_its_history_ends_is_found(healthy):
    session = healthy["worked"].work_sessions.get()
    WorkSession.objects.filter(pk=session.pk).update(status="running", ended_at=None)

    assert find_violations(now=utc_now()) == [
        f"session_last_status: work session {session.pk} is 'running' but its last transition ends in 'stopped'"
    ]


# --- XP -------------------------------------------------------------------------------------------------------------


def test_an_xp_reference_awarded_twice_is_found(healthy, shop):
    entry = XpEntry.objects.order_by("pk").first()
    [(constraint,)] = sql("SELECT conname FROM pg_constraint WHERE conrelid = 'xp_entry'::regclass AND contype = 'u'")
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while deferred foreign-key checks are pending
    sql(f"ALTER TABLE xp_entry DROP CONSTRAINT {constraint}")
    twice = XpEntry.objects.create(
        user=entry.user,
        kind=entry.kind,
        amount=entry.amount,
        reference=entry.reference,
        ticket=entry.ticket,
        created_at=shop.tick(),
    )

    assert find_violations(now=utc_now()) == [
        f"xp_reference: reference {entry.reference!r} is on 2 XP entries: {entry.pk}, {twice.pk}"
    ]


# --- commands -------------------------------------------------------------------------------------------------------


def test_a_command_pending_past_the_sweep_window_is_found(healthy, shop, settings):
    settings.COMMAND_STALE_AFTER_SECONDS = 5
    now = utc_now()
    stuck = command(submitter=shop.admin, submitted_at=now - timedelta(seconds=66))
    command(submitter=shop.admin, submitted_at=now - timedelta(seconds=64))  # within 5 s + the 60 s margin

    assert find_violations(now=now) == [
        f"stale_command: command {stuck.id} (ticket.start, lane ticket:1) pending for 66 s (allowed 65 s)"
    ]


def test_the_stale_window_is_an_option(healthy, shop):
    now = utc_now()
    command(submitter=shop.admin, submitted_at=now - timedelta(minutes=30))

    assert checks_of(find_violations(now=now)) == {"stale_command"}
    assert find_violations(now=now, stale_after=timedelta(hours=1)) == []
    call_command("check_invariants", "--stale-after", "3600", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("check_invariants", "--stale-after", "600", stdout=StringIO())


def test_finished_commands_are_never_stale(healthy, shop):
    old = utc_now() - timedelta(days=3)
    command(submitter=shop.admin, submitted_at=old, status="rejected", finished_at=old, error_code="not_found")

    assert find_violations(now=utc_now()) == []


def test_listing_stops_at_the_limit_and_says_so(healthy, shop):
    now = utc_now()
    for minutes in (10, 20, 30):
        command(submitter=shop.admin, submitted_at=now - timedelta(minutes=minutes))

    violations = find_violations(now=now, limit=2)

    assert len(violations) == 3
    assert violations[-1] == "stale_command: more violations not listed (limit 2 per check)"


# --- pause deadlines -----------------------------------------------------------------------------------------------


def test_a_paused_session_resuming_later_than_its_budget_allows_is_found(healthy):
    session = healthy["paused"].work_sessions.get()
    WorkSession.objects.filter(pk=session.pk).update(auto_resume_at=session.auto_resume_at + timedelta(seconds=1))

    [violation] = find_violations(now=utc_now())
    assert violation.startswith(f"pause_deadline: paused work session {session.pk} (paused at ")
    assert violation.endswith(f"expected {session.auto_resume_at.isoformat()}")


def test_a_paused_session_resuming_earlier_than_its_budget_allows_is_found(healthy):
    session = healthy["paused"].work_sessions.get()
    WorkSession.objects.filter(pk=session.pk).update(auto_resume_at=session.auto_resume_at - timedelta(minutes=5))

    assert checks_of(find_violations(now=utc_now())) == {"pause_deadline"}


def _rules(limit_seconds: int, *, at: datetime | None = None):
    config = {
        **DEFAULT_CONFIG,
        "work_session": {**DEFAULT_CONFIG["work_session"], "daily_pause_limit_seconds": limit_seconds},
    }
    if at is not None:
        return change_rules_at(at, config)
    row = change_rules(config=config, reason="test", changed_by=None)
    publish_active_version(row.pk)  # what the change's commit does
    return row


CHANGED_AT = {"midday": nov26(12), "just_after_midnight": nov26(0, 0, 30)}


@pytest.fixture(params=list(CHANGED_AT), ids=list(CHANGED_AT))
def paused_now(request, shop):
    """(a session paused six minutes before a rules change, the change's instant); just after midnight, the pause
    began on the day before the change."""
    changed_at = CHANGED_AT[request.param]
    shop.now = changed_at - timedelta(minutes=15)
    outcome = shop.started()
    sessions.pause_work_session(ticket_id=outcome.ticket.pk, actor=shop.technician, at=shop.tick(300))
    return WorkSession.objects.get(pk=outcome.work_session.pk), changed_at


def _paused_at(session: WorkSession) -> datetime:
    (pause,) = [row for row in session.history() if row.to_status == SessionStatus.PAUSED]
    return pause.event_at


def _clamped(paused_at: datetime, changed_at: datetime, limit: timedelta) -> datetime:
    """A day's first pause whose budget ran out before a rules change resumes at the change, unless a midnight
    passed meanwhile: the new day's limit, less the pause since that midnight, is then left."""
    midnight = next_local_midnight(paused_at)
    return max(changed_at, midnight + limit) if midnight <= changed_at else changed_at


def test_a_deadline_a_rules_change_moved_later_is_fine_and_one_left_behind_is_found(paused_now):
    session, changed_at = paused_now
    paused_at = _paused_at(session)
    assert session.auto_resume_at == first_pause_runs_out(paused_at, timedelta(minutes=30))
    moved_to = first_pause_runs_out(paused_at, timedelta(hours=1))
    row = _rules(3600, at=changed_at)
    assert find_violations(now=changed_at) == [
        f"pause_deadline: paused work session {session.pk} (paused at {paused_at.isoformat()}) resumes at "
        f"{session.auto_resume_at.isoformat()}, expected {moved_to.isoformat()}"
    ]  # the recompute has not run yet

    assert rules_change.recompute_pause_deadlines(changed_at=row.created_at) == 1

    assert WorkSession.objects.get(pk=session.pk).auto_resume_at == moved_to
    assert find_violations(now=changed_at) == []


def test_a_deadline_a_rules_change_ran_out_before_is_clamped_to_the_change_or_the_new_days_budget(paused_now):
    session, changed_at = paused_now
    # The new budget ran out before the change: at midday the deadline is the change itself; just after midnight,
    # what the new day's budget has left after the pause since midnight (00:01:00, after the change at 00:00:30).
    row = _rules(60, at=changed_at)
    rules_change.recompute_pause_deadlines(changed_at=row.created_at)

    clamped = _clamped(_paused_at(session), changed_at, timedelta(seconds=60))
    assert WorkSession.objects.get(pk=session.pk).auto_resume_at == clamped
    assert find_violations(now=changed_at) == []
    WorkSession.objects.filter(pk=session.pk).update(auto_resume_at=clamped - timedelta(seconds=30))
    assert checks_of(find_violations(now=changed_at)) == {"pause_deadline"}


def test_a_deadline_already_due_at_a_rules_change_is_kept_and_fine(shop):
    shop.now = utc_now() - timedelta(hours=2)
    outcome = shop.started()
    sessions.pause_work_session(ticket_id=outcome.ticket.pk, actor=shop.technician, at=shop.tick())
    kept = WorkSession.objects.get(pk=outcome.work_session.pk).auto_resume_at
    row = _rules(3600)
    rules_change.recompute_pause_deadlines(changed_at=row.created_at)

    assert WorkSession.objects.get(pk=outcome.work_session.pk).auto_resume_at == kept < row.created_at
    assert find_violations(now=utc_now()) == []
