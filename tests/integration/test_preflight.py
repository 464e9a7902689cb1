"""`make run` checks its services with `manage.py preflight`: a service that is down is named, with how to start it;
one that answers and refuses the login is named with its own words, not sent to be started."""

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
    assert "Connection refused" in result.stderr
    assert "TICKETFLOW_SERVICES=embedded" in result.stderr
    assert "docker compose -f compose.services.yml up -d" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_preflight_reports_a_refused_login_in_postgresqls_words_and_points_at_database_url():
    """The local server answers; it knows no role by this name (the same path as a wrong password or a pg_hba
    refusal: PostgreSQL answers FATAL)."""
    result = preflight(DATABASE_URL="postgres://no_such_role_tf@127.0.0.1:5432/ticketflow")
    assert result.returncode != 0
    assert 'FATAL: role "no_such_role_tf" does not exist' in result.stderr
    assert "refused the login of 'no_such_role_tf'" in result.stderr
    assert "DATABASE_URL" in result.stderr
    assert "not reachable" not in result.stderr
    assert "docker compose" not in result.stderr
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
