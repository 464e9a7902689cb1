"""Flower, started as operators start it (`celery -A config flower --basic-auth=...`), lets nobody in without it."""

import httpx
import pytest
from django.conf import settings

from tests.support.processes import ProcessTree, celery_argv, free_port, process_env, wait_until

pytestmark = [pytest.mark.e2e]

USER, PASSWORD = "operator", "s3cret-flower-pass"


@pytest.fixture(scope="module")
def flower(django_db_setup):
    """One Flower for the module; stopped (and checked to be gone) at its end."""
    port = free_port()
    argv = celery_argv("flower", f"--port={port}", "--address=127.0.0.1", f"--basic-auth={USER}:{PASSWORD}")
    process = ProcessTree(f"e2e-flower-{settings.RUN_ID}", argv, process_env()).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _listening(base_url), what=f"flower on {base_url}", timeout=60, process=process)
        yield base_url
    finally:
        process.stop()
    assert not process.running, "flower did not stop"


def _listening(base_url: str) -> bool:
    try:
        httpx.get(base_url, timeout=1)
    except httpx.TransportError:
        return False
    return True


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
