"""`make run` starts with `manage.py preflight`: a service that is down is named, with how to start it."""

import os
import socket
import subprocess

from tests.support.processes import run_python


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


def preflight(**env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return run_python("manage.py", "preflight", env=environment, timeout=60, check=False)


def test_preflight_names_postgresql_when_it_is_down_without_a_traceback():
    result = preflight(DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/ticketflow")
    assert result.returncode != 0
    assert "PostgreSQL is not reachable" in result.stderr
    assert "docker compose up" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_preflight_names_redis_when_it_is_down_without_a_traceback():
    result = preflight(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    assert result.returncode != 0
    assert "Redis is not reachable" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_preflight_passes_when_both_answer():
    result = preflight()
    assert result.returncode == 0, result.stderr
    assert "PostgreSQL and Redis are reachable" in result.stdout
