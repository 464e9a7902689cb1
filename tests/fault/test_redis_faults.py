"""Redis restarted or flushed under load (a private redis-server): no command is lost, none is applied twice.

Redis keeps nothing on disk here, so a restart loses every queued and unacknowledged message, like FLUSHALL does.
The database is the inbox: beat's stale sweep re-queues the lanes whose messages vanished.
"""

import pytest

from tests.support.outcomes import pause_life_under_faults

DOWN_SECONDS = 3.0


def run_redis_faults(make_stack, *, name: str, fault: str, tickets: int, times: int, rate: float, settle_timeout):
    def inject(stack) -> None:
        if fault == "restart":
            stack.redis.restart(down_for=DOWN_SECONDS)
        else:
            stack.redis.flushall()

    figures = pause_life_under_faults(
        make_stack, name=name, tickets=tickets, rate=rate, settle_timeout=settle_timeout, faults=times, inject=inject
    )
    assert len(figures["faults"]) == times


@pytest.mark.parametrize(
    ("fault", "name"),
    [("restart", "redis-restart-short"), ("flushall", "redis-flushall-short")],
    ids=["restart", "flushall"],
)
def test_redis_restarted_or_flushed_under_load_loses_and_doubles_nothing(fault_stack, fault, name):
    """Short variants: 100 commands (20 tickets x 5), one restart (Redis down 3 s) or one FLUSHALL."""
    run_redis_faults(fault_stack, name=name, fault=fault, tickets=20, times=1, rate=25, settle_timeout=60)


@pytest.mark.fault
@pytest.mark.parametrize(
    ("fault", "times", "name"),
    [("restart", 2, "redis-restart-long"), ("flushall", 3, "redis-flushall-long")],
    ids=["restarted-twice", "flushed-three-times"],
)
def test_redis_faults_in_1000_commands_lose_and_double_nothing(fault_stack, fault, times, name):
    """Long variants: 1,000 commands (200 tickets x 5), Redis restarted twice (down 3 s each) or flushed three times."""
    run_redis_faults(fault_stack, name=name, fault=fault, tickets=200, times=times, rate=25, settle_timeout=180)
