"""SIGKILLed workers lose no command and apply none twice: beat's stale sweep recovers what they stranded."""

import time

import pytest

from tests.support.outcomes import pause_life_under_faults


def run_worker_kills(make_stack, *, name: str, tickets: int, kills: int, rate: float, settle_timeout: float):
    def inject(stack) -> None:
        stack.kill_worker()  # SIGKILL to the whole tree: transactions in flight roll back, messages strand
        time.sleep(1.0)
        stack.restart_worker()

    figures = pause_life_under_faults(
        make_stack, name=name, tickets=tickets, rate=rate, settle_timeout=settle_timeout, faults=kills, inject=inject
    )
    assert len(figures["faults"]) == kills


def test_a_worker_sigkilled_under_load_loses_and_doubles_nothing(fault_stack):
    """Short variant: 100 commands (20 tickets x 5), one SIGKILL."""
    run_worker_kills(fault_stack, name="worker-kill-short", tickets=20, kills=1, rate=25, settle_timeout=60)


@pytest.mark.fault
def test_a_worker_sigkilled_three_times_in_1000_commands_loses_and_doubles_nothing(fault_stack):
    """Long variant: 1,000 commands (200 tickets x 5), three SIGKILLs spread over the load."""
    run_worker_kills(fault_stack, name="worker-kill-long", tickets=200, kills=3, rate=25, settle_timeout=180)
