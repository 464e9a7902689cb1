"""PostgreSQL stopped for seconds under load (a private cluster): the API answers 503 problem+json meanwhile, and
every command accepted before or after the outage is applied exactly once when the database is back."""

import time

import httpx
import pytest

from tests.support.lives import PAUSE_LIFE
from tests.support.load import Load
from tests.support.outcomes import Timer, finish_pause_life

DOWN_SECONDS = 5.0
# A request may be answered a little after the stop began; one sent just before the start, a little after it.
EDGE_SECONDS = 2.0


def during(unavailable, outage: dict) -> bool:
    """Was this 503 the outage's doing: answered after the stop began, asked before the database was back?"""
    return unavailable.at >= outage["down_at"] - EDGE_SECONDS and unavailable.sent <= outage["up_at"] + EDGE_SECONDS


def probe_while_down(stack, token: str, n: int) -> dict:
    """One POST and one /readyz while the database is down: what does a client see?"""
    response = httpx.post(
        f"{stack.web.url}/api/v1/commands",
        json={"type": "work_session.pause", "ticket_id": 2**40},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"outage-probe-{n}"},
        timeout=30,
    )
    ready = httpx.get(f"{stack.web.url}/readyz", timeout=30)
    try:
        body = response.json()
    except ValueError:
        body = {"unparsed": response.text[:500]}
    return {
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type"),
        "retry_after": response.headers.get("Retry-After"),
        "body": body,
        "readyz_status": ready.status_code,
        "readyz_down": ready.json().get("down") if ready.status_code == 503 else None,
    }


def run_postgres_outages(make_stack, *, name: str, tickets: int, modes: list[str], rate: float, settle_timeout):
    timer = Timer()
    stack = make_stack(name).start(seed_tickets=tickets)
    timer.mark("ready")
    cluster = stack.postgres
    load = Load(stack.web.url, stack.seeded["tickets"], PAUSE_LIFE, name=name, rate=rate).start()
    outages = []
    try:
        for n, mode in enumerate(modes, start=1):
            load.wait_accepted(load.total * n // (len(modes) + 1), timeout=120)
            accepted = load.accepted()  # stop at once: the clients must still be submitting during the outage
            down_at = time.monotonic() - load.started
            timer.mark(f"stop{n}")
            cluster.stop(mode)
            probe = probe_while_down(stack, stack.seeded["tickets"][0]["token"], n)
            time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - load.started - down_at)))
            cluster.start()
            up_at = time.monotonic() - load.started
            timer.mark(f"start{n}")
            outages.append(
                {
                    "mode": mode,
                    "down_at": round(down_at, 2),
                    "up_at": round(up_at, 2),
                    "down_seconds": round(up_at - down_at, 2),
                    "accepted_before": accepted,
                    "probe": probe,
                    "unavailable_503_seen": None,
                }
            )
        load.wait(timeout=180)
    finally:
        load.stop()
    timer.mark("submitted")
    for outage in outages:
        outage["unavailable_503_seen"] = sum(during(u, outage) for u in load.unavailable)
    outside = [(round(u.sent, 2), round(u.at, 2)) for u in load.unavailable if not any(during(u, o) for o in outages)]
    finish_pause_life(
        stack, load, name=name, timer=timer, settle_timeout=settle_timeout, postgres_outages=outages,
        unavailable_outside_outages=outside[:20],
    )  # fmt: skip

    for outage in outages:
        probe = outage["probe"]
        assert probe["status"] == 503, probe
        assert probe["content_type"] == "application/problem+json", probe
        assert probe["retry_after"] is not None and int(probe["retry_after"]) > 0, probe
        assert probe["body"].get("status") == 503 and probe["body"].get("code") == "service_unavailable", probe
        assert "Traceback" not in str(probe["body"])
        assert probe["readyz_status"] == 503 and "postgresql" in probe["readyz_down"], probe
        assert outage["unavailable_503_seen"] > 0, outage  # the load's clients met the outage too
    for unavailable in load.unavailable:
        assert unavailable.content_type == "application/problem+json", unavailable
        assert unavailable.retry_after is not None, unavailable
        assert unavailable.code == "service_unavailable", unavailable
    assert outside == []  # 503s only while the database was away


def test_a_postgres_outage_under_load_answers_503_and_loses_nothing(fault_stack):
    """Short variant: 100 commands, PostgreSQL down for 5 s once (a crash: immediate shutdown)."""
    run_postgres_outages(
        fault_stack, name="postgres-short", tickets=20, modes=["immediate"], rate=25, settle_timeout=90
    )


@pytest.mark.fault
def test_postgres_down_twice_in_1000_commands_answers_503_and_loses_nothing(fault_stack):
    """Long variant: 1,000 commands, PostgreSQL down for 5 s twice (a clean fast shutdown, then a crash)."""
    run_postgres_outages(
        fault_stack, name="postgres-long", tickets=200, modes=["fast", "immediate"], rate=25,
        settle_timeout=240,
    )  # fmt: skip
