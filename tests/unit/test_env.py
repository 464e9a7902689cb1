"""Settings read from the environment and the .env file (config/env.py): a value means what it says, a typo is
refused by name, and every entry point reads the file, the environment winning."""

import json
import os
import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import ENV_FILE_VARIABLE, env_bool, env_database, env_int, env_redis_url, load_env_file
from tests.support.processes import run_python


@pytest.mark.parametrize("raw", ["1", "true", "True", "yes", "on", " ON "])
def test_a_switch_written_on_is_on(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off"])
def test_a_switch_written_off_is_off(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_an_unset_or_empty_switch_takes_its_default(monkeypatch, default):
    monkeypatch.delenv("TICKETFLOW_TEST_SWITCH", raising=False)
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=default) is default
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", "")
    assert env_bool("TICKETFLOW_TEST_SWITCH", default=default) is default


@pytest.mark.parametrize("raw", ["ture", "2", "enabled", "of"])
def test_a_misspelt_switch_is_refused_by_name(monkeypatch, raw):
    """SECURE_SSL_REDIRECT=ture must not quietly serve plain HTTP."""
    monkeypatch.setenv("TICKETFLOW_TEST_SWITCH", raw)
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_TEST_SWITCH"):
        env_bool("TICKETFLOW_TEST_SWITCH", default=True)


# --- numbers and URLs: a bad value is refused by its name --------------------------------------------------------


@pytest.mark.parametrize("raw", ["five", "5.0", "1e3"])
def test_a_number_that_is_not_one_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv("TICKETFLOW_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=f"TICKETFLOW_TEST_NUMBER='{raw}'"):
        env_int("TICKETFLOW_TEST_NUMBER", default=1)


@pytest.mark.parametrize("url", ["postgress://postgres@127.0.0.1/ticketflow", "postgres://u:p@host:port/db"])
def test_a_malformed_database_url_is_refused_by_name(monkeypatch, url):
    monkeypatch.setenv("TICKETFLOW_TEST_DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_TEST_DATABASE_URL="):
        env_database("TICKETFLOW_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketflow")


@pytest.mark.parametrize("url", ["127.0.0.1:6379", "http://127.0.0.1:6379/0", "redis://127.0.0.1:six/0"])
def test_a_malformed_redis_url_is_refused_by_name(monkeypatch, url):
    monkeypatch.setenv("TICKETFLOW_TEST_REDIS_URL", url)
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_TEST_REDIS_URL="):
        env_redis_url("TICKETFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_a_database_on_a_unix_socket_is_written_with_its_folder_as_host(monkeypatch):
    """The form `make run` gives the embedded PostgreSQL (devstack/embedded.py)."""
    monkeypatch.setenv("TICKETFLOW_TEST_DATABASE_URL", "postgres://postgres@%2Fsrv%2Fpg:5432/ticketflow")
    database = env_database("TICKETFLOW_TEST_DATABASE_URL", "")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("/srv/pg", 5432, "ticketflow")


# --- the .env file ---------------------------------------------------------------------------------------------


def test_the_env_file_fills_in_what_the_environment_leaves_unset(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TICKETFLOW_TEST_FROM_FILE=file\nTICKETFLOW_TEST_IN_BOTH=file\n")
    monkeypatch.delenv("TICKETFLOW_TEST_FROM_FILE", raising=False)
    monkeypatch.setenv("TICKETFLOW_TEST_IN_BOTH", "environment")
    assert load_env_file(env_file) == env_file
    assert os.environ["TICKETFLOW_TEST_FROM_FILE"] == "file"
    assert os.environ["TICKETFLOW_TEST_IN_BOTH"] == "environment"


def test_an_env_file_named_but_missing_is_refused(monkeypatch, tmp_path):
    """A typo in TICKETFLOW_ENV_FILE must not quietly run on the defaults."""
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "nowhere.env"))
    with pytest.raises(ImproperlyConfigured, match="TICKETFLOW_ENV_FILE="):
        load_env_file()


def manage_py_settings(env_file, *names: str, **environment: str):
    """`manage.py shell` in a fresh process with only `env_file` as its .env; returns the settings `names` or the
    completed process when it failed."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "COMMAND_MAX_ATTEMPTS"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="1", **environment)
    env[ENV_FILE_VARIABLE] = str(env_file)
    code = f"import json; from django.conf import settings as s; print(json.dumps([{', '.join(names)}]))"
    result = run_python("manage.py", "shell", "-c", code, env=env, timeout=60, check=False)
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else result


def test_manage_py_reads_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgres://postgres@127.0.0.1:5432/from_the_env_file\nCOMMAND_MAX_ATTEMPTS=7\n")
    name, attempts = manage_py_settings(env_file, "s.DATABASES['default']['NAME']", "s.COMMAND_MAX_ATTEMPTS")
    assert (name, attempts) == ("from_the_env_file", 7)


def test_manage_py_prefers_the_environment_to_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("COMMAND_MAX_ATTEMPTS=7\n")
    [attempts] = manage_py_settings(env_file, "s.COMMAND_MAX_ATTEMPTS", COMMAND_MAX_ATTEMPTS="3")
    assert attempts == 3


def test_manage_py_names_a_bad_value_from_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("COMMAND_MAX_ATTEMPTS=five\n")
    failed = manage_py_settings(env_file, "s.COMMAND_MAX_ATTEMPTS")
    assert isinstance(failed, subprocess.CompletedProcess) and failed.returncode != 0
    assert "ImproperlyConfigured: COMMAND_MAX_ATTEMPTS='five': write a whole number" in failed.stderr
