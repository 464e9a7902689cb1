"""Redis restarted or flushed under load (a private redis-server): no command is lost, none is applied twice.

Redis keeps nothing on disk here, so a restart loses every queued and unacknowledged message, like FLUSHALL does.
The database is the inbox: beat's stale sweep re-queues the lanes whose messages vanished.
"""

import pytest

from tests.fault.load import PAUSE_LIFE, PAUSE_LIFE_SESSIONS, PAUSE_LIFE_TICKET_ACTIONS, Load
from tests.fault.scenario import Timer, assert_clean_outcome, base_figures, lives_not_applied_once, settle_and_report

DOWN_SECONDS = 3.0


def run_redis_faults(make_stack, *, name: str, fault: str, tickets: int, times: int, rate: float, settle_timeout):
    timer = Timer()
    stack = make_stack(name).start(seed_tickets=tickets)
    timer.mark("ready")
    load = Load(stack.web.url, stack.seeded["tickets"], PAUSE_LIFE, name=name, rate=rate).start()
    faults = []
    try:
        for n in range(1, times + 1):
            load.wait_accepted(load.total * n // (times + 1), timeout=120)
            accepted, pending = load.accepted(), stack.pending()
            started = timer.mark(f"{fault}{n}")
            if fault == "restart":
                stack.redis.restart(down_for=DOWN_SECONDS)
            else:
                stack.redis.flushall()
            faults.append(
                {
                    "at": started,
                    "accepted_at_fault": accepted,
                    "pending_at_fault": pending,
                    "accepted_during_fault": load.accepted() - accepted,
                    "redis_back_after_seconds": round(timer.mark(f"{fault}{n}-done") - started, 2),
                }
            )
        load.wait(timeout=180)
    finally:
        load.stop()
    timer.mark("submitted")
    outcome = settle_and_report(stack, load, timer=timer, settle_timeout=settle_timeout)
    wrong = lives_not_applied_once(
        outcome["report"], stack.seeded["tickets"], PAUSE_LIFE_TICKET_ACTIONS, PAUSE_LIFE_SESSIONS
    )
    figures = base_figures(name, load, outcome, timer, redis_faults=faults, tickets_not_applied_once=wrong)

    assert len(faults) == times
    assert load.transport_errors == [], load.transport_errors[:5]
    assert_clean_outcome(figures, load, outcome)
    assert wrong == []


def test_a_redis_restart_under_load_loses_and_doubles_nothing(fault_stack):
    """Short variant: 100 commands, Redis down for 3 s once."""
    run_redis_faults(
        fault_stack,
        name="redis-restart-short",
        fault="restart",
        tickets=20,
        times=1,
        rate=25,
        settle_timeout=60,
    )


def test_a_redis_flushall_under_load_loses_and_doubles_nothing(fault_stack):
    """Short variant: 100 commands, one FLUSHALL."""
    run_redis_faults(
        fault_stack,
        name="redis-flushall-short",
        fault="flushall",
        tickets=20,
        times=1,
        rate=25,
        settle_timeout=60,
    )


@pytest.mark.fault
def test_redis_restarted_twice_in_1000_commands_loses_and_doubles_nothing(fault_stack):
    """Long variant: 1,000 commands, Redis down for 3 s twice."""
    run_redis_faults(
        fault_stack,
        name="redis-restart-long",
        fault="restart",
        tickets=200,
        times=2,
        rate=25,
        settle_timeout=180,
    )


@pytest.mark.fault
def test_redis_flushed_three_times_in_1000_commands_loses_and_doubles_nothing(fault_stack):
    """Long variant: 1,000 commands, three FLUSHALLs."""
    run_redis_faults(
        fault_stack,
        name="redis-flushall-long",
        fault="flushall",
        tickets=200,
        times=3,
        rate=25,
        settle_timeout=180,
    )
