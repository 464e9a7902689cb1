"""Flower, started as operators start it (`celery -A config flower --basic-auth=...`), lets nobody in without it."""

import socket
import time

import httpx
import pytest
from django.conf import settings

from tests.processes import CeleryProcess, process_env

pytestmark = [pytest.mark.e2e]

USER, PASSWORD = "operator", "s3cret-flower-pass"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def flower(django_db_setup):
    """One Flower for the module; stopped (and checked to be gone) at its end."""
    port = _free_port()
    process = CeleryProcess(
        "flower",
        f"--port={port}",
        "--address=127.0.0.1",
        f"--basic-auth={USER}:{PASSWORD}",
        name=f"e2e-flower-{settings.RUN_ID}",
        env=process_env(),
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(process, base_url)
        yield base_url
    finally:
        process.stop()
    assert process.proc.poll() is not None, "flower did not stop"


def _wait_until_listening(process: CeleryProcess, base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"flower exited early:\n{process.log_tail()}")
        try:
            httpx.get(base_url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"flower not listening after {timeout}s:\n{process.log_tail()}")


@pytest.mark.parametrize("path", ["/", "/workers", "/tasks", "/api/workers", "/api/tasks"])
def test_flower_requires_its_basic_auth_credentials(flower, path):
    url = flower + path

    anonymous = httpx.get(url, timeout=10)
    wrong_password = httpx.get(url, auth=(USER, "not-the-password"), timeout=10)
    wrong_user = httpx.get(url, auth=("intruder", PASSWORD), timeout=10)
    right = httpx.get(url, auth=(USER, PASSWORD), timeout=10)

    assert anonymous.status_code == 401
    if not path.startswith("/api/"):  # Flower's JSON API refuses without a challenge; its pages send one
        assert anonymous.headers["WWW-Authenticate"].lower().startswith("basic")
    assert wrong_password.status_code == 401
    assert wrong_user.status_code == 401
    assert right.status_code == 200, right.text[:300]
