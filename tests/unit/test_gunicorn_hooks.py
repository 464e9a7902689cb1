"""The hooks of config/gunicorn.py, on stand-in requests (tests/e2e/test_refused_bodies.py and test_wait_burst.py
run them in a real gunicorn)."""

import runpy
from types import SimpleNamespace

import pytest

from apps.commands import waiting
from tests.support.logs import ROOT

CONFIG = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))


class StandInRequest:
    def __init__(self, *headers: tuple[str, str]):
        self.headers = list(headers)
        self.must_close = False

    def force_close(self):
        self.must_close = True


@pytest.mark.parametrize(
    ("headers", "closes"),
    [
        ((), False),
        ((("CONTENT-LENGTH", "0"),), False),
        ((("CONTENT-LENGTH", str(64 * 1024 - 1)),), False),
        ((("CONTENT-LENGTH", str(64 * 1024)),), True),
        ((("CONTENT-LENGTH", str(10 * 1024 * 1024)),), True),
        ((("CONTENT-LENGTH", "9" * 40),), True),
        ((("TRANSFER-ENCODING", "chunked"),), True),
    ],
    ids=["no_body", "empty", "just_under", "drain_allowance", "ten_mib", "absurd", "chunked"],
)
def test_a_body_gunicorn_might_not_drain_gets_connection_close(headers, closes):
    request = StandInRequest(("HOST", "127.0.0.1"), *headers)

    CONFIG["pre_request"](SimpleNamespace(), request)

    assert request.must_close is closes


def test_waits_may_hold_half_of_a_workers_threads(monkeypatch):
    monkeypatch.setattr(waiting, "_waiting_threads", None)

    CONFIG["post_worker_init"](SimpleNamespace(cfg=SimpleNamespace(threads=16)))

    held = [waiting._waiting_threads.acquire(blocking=False) for _ in range(9)]
    assert held == [True] * 8 + [False]
