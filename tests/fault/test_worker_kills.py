"""SIGKILLed workers lose no command and apply none twice: beat's stale sweep recovers what they stranded."""

import time

import pytest

from tests.fault.load import PAUSE_LIFE, Load
from tests.fault.scenario import Timer, finish_pause_life


def run_worker_kills(make_stack, *, name: str, tickets: int, kills: int, rate: float, settle_timeout: float):
    timer = Timer()
    stack = make_stack(name).start(seed_tickets=tickets)
    seeded = stack.seeded
    timer.mark("ready")
    load = Load(stack.web.url, seeded["tickets"], PAUSE_LIFE, name=name, rate=rate).start()
    kills_done = []
    try:
        for kill in range(1, kills + 1):
            load.wait_accepted(load.total * kill // (kills + 1), timeout=120)
            at_accepted, pending = load.accepted(), stack.pending()
            killed_at = timer.mark(f"kill{kill}")
            stack.kill_worker()  # SIGKILL to the whole group: transactions in flight roll back, messages strand
            time.sleep(1.0)
            stack.restart_worker()
            kills_done.append(
                {
                    "at": killed_at,
                    "accepted_at_kill": at_accepted,
                    "pending_at_kill": pending,
                    "back_after_seconds": round(timer.mark(f"restarted{kill}") - killed_at, 2),
                }
            )
        load.wait(timeout=180)
    finally:
        load.stop()
    timer.mark("submitted")
    finish_pause_life(stack, load, name=name, timer=timer, settle_timeout=settle_timeout, worker_kills=kills_done)
    assert len(kills_done) == kills


def test_a_worker_sigkilled_under_load_loses_and_doubles_nothing(fault_stack):
    """Short variant: 100 commands (20 tickets x 5), one SIGKILL."""
    run_worker_kills(fault_stack, name="worker-kill-short", tickets=20, kills=1, rate=25, settle_timeout=60)


@pytest.mark.fault
def test_a_worker_sigkilled_three_times_in_1000_commands_loses_and_doubles_nothing(fault_stack):
    """Long variant: 1,000 commands (200 tickets x 5), three SIGKILLs spread over the load."""
    run_worker_kills(fault_stack, name="worker-kill-long", tickets=200, kills=3, rate=25, settle_timeout=180)
