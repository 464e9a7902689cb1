"""The deployment files say what the code does: Redis keeps its AOF only to shorten recovery (correctness never rests
on it), workers consume every queue, debug is asked for only by the development paths, TLS is documented."""

import re

import yaml

from tests.support.logs import ROOT

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
