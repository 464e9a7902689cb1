"""The deployment files say what the code does: Redis keeps its AOF only to shorten recovery (correctness never rests
on it), workers consume every queue, debug is asked for only by the development paths, TLS is documented."""

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.logs import ROOT
from tests.support.processes import BIN, run_python

README = (ROOT / "README.md").read_text()
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)


def section(title: str) -> str:
    """The README's `## title` section, up to the next `## `."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def comment_above(text: str, line_start: str) -> str:
    """The comment lines right above the first line of `text` that starts (after indentation) with `line_start`."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(line_start))
    comments = []
    for line in reversed(lines[:index]):
        if not line.strip().startswith("#"):
            break
        comments.insert(0, line.strip().lstrip("# "))
    return " ".join(comments)


def test_compose_keeps_redis_aof_and_says_correctness_does_not_depend_on_it():
    redis_command = COMPOSE["services"]["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"

    why = comment_above(COMPOSE_TEXT, 'command: ["redis-server"').lower()
    assert "recovery" in why and "sweep" in why and "database" in why, why


def test_the_readme_says_aof_only_shortens_recovery():
    operations = section("Operations")
    assert "AOF" in operations
    paragraph = " ".join(next(p for p in operations.split("\n- ") if "AOF" in p).split())
    assert "correctness never depends on it" in paragraph.lower()
    assert "inbox" in paragraph and "sweeps" in paragraph


def test_the_readme_names_a_plain_worker_and_the_tls_settings():
    operations = section("Operations")
    assert "`celery -A config worker`" in operations and "-Q" in operations
    assert "SECURE_SSL_REDIRECT" in operations and "X-Forwarded-Proto" in operations
    assert "https_required" in operations
    assert "--password-from-stdin" in operations


def test_the_readme_documents_production_safe_defaults():
    configuration = section("Configuration")
    row = next(line for line in configuration.splitlines() if line.startswith("| `DJANGO_DEBUG`"))
    assert row.split("|")[2].strip() == "`0`"
    assert "SECURE_SSL_REDIRECT" in configuration


def test_only_the_development_paths_ask_for_debug():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^export DJANGO_DEBUG \?= 1$", makefile, re.MULTILINE)
    instructions = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    assert any(line.startswith("ENV ") and "DJANGO_DEBUG=0" in line.split() for line in instructions)
    assert COMPOSE["x-app"]["environment"]["DJANGO_DEBUG"] == "0"


def test_the_readme_walkthrough_asks_for_the_development_settings_before_running_manage_py():
    """Settings default to production: a reader's second terminal has no DJANGO_DEBUG unless the walkthrough sets it."""
    walkthrough = README[README.index("<!-- readme-test:begin -->") :]
    assert 0 <= walkthrough.find("export DJANGO_DEBUG=") < walkthrough.index("manage.py")


# --- compose: the whole stack, and just the services for `make run` --------------------------------------------------

SERVICES_TEXT = (ROOT / "compose.services.yml").read_text()
SERVICES = yaml.safe_load(SERVICES_TEXT)
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(document, env: dict[str, str]):
    """Compose's variable interpolation of every string value (the forms these files use): `${X}`, `${X:-default}`,
    `${X:?error}`; a required variable that is unset or empty raises, as `docker compose` aborts."""

    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op == ":?" and not current:
            raise MissingVariable(f"{name}: {arg}")
        if op == ":-" and not current:
            return arg
        return current or ""

    if isinstance(document, dict):
        return {key: interpolate(item, env) for key, item in document.items()}
    if isinstance(document, list):
        return [interpolate(item, env) for item in document]
    return VARIABLE.sub(value, document) if isinstance(document, str) else document


def check_compose_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["docker-compose.yml", "compose.services.yml"])
def test_each_compose_file_follows_the_compose_specification(name):
    result = check_compose_schema(ROOT / name)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_full_stack_as_compose_reads_it_with_its_secrets_follows_the_specification(tmp_path):
    env = {"DJANGO_SECRET_KEY": "k" * 50, "FLOWER_BASIC_AUTH": "ops:secret"}
    interpolated = tmp_path / "docker-compose.interpolated.yml"
    interpolated.write_text(yaml.safe_dump(interpolate(COMPOSE, env)))

    result = check_compose_schema(interpolated)

    assert result.returncode == 0, result.stdout + result.stderr
    assert yaml.safe_load(interpolated.read_text())["services"]["flower"]["ports"] == ["127.0.0.1:5555:5555"]


def test_the_services_only_use_needs_no_variable_and_follows_the_specification(tmp_path):
    """The full file needs its secrets even for two services (compose interpolates the whole file): that is why the
    services-only use is a file of its own, which reads nothing from the environment."""
    with pytest.raises(MissingVariable, match="DJANGO_SECRET_KEY"):
        interpolate(COMPOSE, {})
    interpolated = tmp_path / "compose.services.interpolated.yml"
    interpolated.write_text(yaml.safe_dump(interpolate(SERVICES, {})))

    assert yaml.safe_load(interpolated.read_text()) == SERVICES
    assert check_compose_schema(interpolated).returncode == 0
    assert set(SERVICES["services"]) == {"postgres", "redis"}


def published(service: dict) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each `ports` entry written as address:host:container."""
    entries = []
    for entry in service.get("ports", []):
        address, host_port, container_port = str(entry).rsplit(":", 2)
        entries.append((address, int(host_port), int(container_port)))
    return entries


def test_the_services_only_use_publishes_on_loopback_only():
    for name, service in SERVICES["services"].items():
        ports = service.get("ports", [])
        assert ports, f"{name} publishes no port: make run could not reach it"
        assert len(published(service)) == len(ports)
        assert {address for address, _, _ in published(service)} == {"127.0.0.1"}, (name, ports)


def test_the_services_only_use_answers_make_runs_default_urls():
    """The defaults as config/settings.py reads them in a fresh process with nothing set (no .env either)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(DJANGO_DEBUG="1", TICKETFLOW_ENV_FILE="/dev/null", DJANGO_SETTINGS_MODULE="config.settings")
    code = (
        "from django.conf import settings as s; import json; print(json.dumps([s.DATABASES['default'], s.REDIS_URL]))"
    )
    result = run_python("-c", f"import django; django.setup(); {code}", env=environment, timeout=60)
    database, redis_url = json.loads(result.stdout.strip().splitlines()[-1])

    postgres = SERVICES["services"]["postgres"]
    assert published(postgres) == [("127.0.0.1", int(database["PORT"]), 5432)]
    assert database["HOST"] == "127.0.0.1"
    assert database["NAME"] == postgres["environment"]["POSTGRES_DB"]
    assert database["USER"] == postgres["environment"]["POSTGRES_USER"]
    # The default URL carries no password: the service trusts loopback connections, and says why.
    assert not database["PASSWORD"]
    assert postgres["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "127.0.0.1" in comment_above(SERVICES_TEXT, "POSTGRES_HOST_AUTH_METHOD")

    redis_url = urlsplit(redis_url)
    assert (redis_url.hostname, redis_url.port) == ("127.0.0.1", 6379)
    assert published(SERVICES["services"]["redis"]) == [("127.0.0.1", redis_url.port, 6379)]


def test_in_the_full_stack_only_the_api_is_published_on_every_interface():
    for name, service in COMPOSE["services"].items():
        for entry in service.get("ports", []):
            if name != "web":
                assert str(entry).startswith("127.0.0.1:"), (name, entry)
    assert COMPOSE["services"]["flower"]["ports"] == ["127.0.0.1:${FLOWER_PORT:-5555}:5555"]


# --- the image: the runtime only --------------------------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = [
    line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
]


def instructions(dockerfile: str) -> list[str]:
    """One string per instruction, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.replace("\\\n", " ").splitlines() if line.strip() and line[0] != "#"]
    return [" ".join(line.split()) for line in lines]


def test_the_image_installs_the_runtime_lock_only():
    steps = instructions(DOCKERFILE)
    installs = [step for step in steps if step.startswith("RUN") and "pip install" in step]

    assert installs == ["RUN pip install --no-deps --only-binary=:all: -r requirements.lock"]
    assert not any("requirements-dev" in step for step in steps)
    copies = [step.split()[1:-1] for step in steps if step.startswith("COPY")]
    assert ["requirements.lock"] in copies
    # No compiler anywhere: every package comes as a wheel (--only-binary), and nothing is apt-installed.
    assert not any("apt-get install" in step or "gcc" in step or "build-essential" in step for step in steps)
    assert [step for step in steps if step.startswith("FROM")] == ["FROM python:3.11-slim"]


def test_the_build_context_leaves_tests_tools_and_docs_out():
    for path in ("tests", "bench", "docs", "requirements-dev.lock", ".venv", ".env", "var", "*.md"):
        assert path in DOCKERIGNORE, path
    for needed in ("apps", "config", "workers", "manage.py", "requirements.lock"):
        assert not any(re.fullmatch(pattern.replace("*", ".*"), needed) for pattern in DOCKERIGNORE), needed
